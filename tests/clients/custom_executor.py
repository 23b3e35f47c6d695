#!/usr/bin/env python3
"""A custom executor for the end-to-end tests (tests/custom_executor.rs).

Python 3 standard library only: it speaks the Mesos v1 executor HTTP API in JSON over
http.client, reading the event stream's RecordIO framing itself, as executors written
for Mesos do. What it learns from the agent comes from the environment the agent gives
every executor (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID,
MESOS_SANDBOX).

What it does:
- each launched task's TaskInfo.data holds a shell command; the executor runs it with
  /bin/sh in its own sandbox, as its child (so every task shares the executor's
  container), and reports TASK_RUNNING with data {"executor_pid", "task_pid"} (JSON),
  then TASK_FINISHED / TASK_FAILED / TASK_KILLED when the command ends;
- a framework message "finish" creates the file `finish` in the sandbox (the tests'
  tasks wait for it) and is answered "finishing"; any other message is answered with
  "echo:" followed by the same bytes;
- KILL sends SIGTERM to the task; SHUTDOWN ends every task and the executor;
- once every task it launched has a terminal update the agent acknowledged, it exits 0;
- when the agent goes away: a checkpointing framework's executor (MESOS_CHECKPOINT=1)
  keeps its tasks and subscribes again until MESOS_RECOVERY_TIMEOUT, telling the new
  agent its unacknowledged tasks and updates, as Mesos's executors do; any other
  executor ends its tasks and exits.
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid

PATH = "/api/v1/executor"
JSON = "application/json"


def log(*parts):
    print("custom_executor:", *parts, file=sys.stderr, flush=True)


ENDPOINT = os.environ["MESOS_AGENT_ENDPOINT"]
HOST, PORT = ENDPOINT.rsplit(":", 1)
FRAMEWORK_ID = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
EXECUTOR_ID = {"value": os.environ["MESOS_EXECUTOR_ID"]}
SANDBOX = os.environ.get("MESOS_SANDBOX") or os.getcwd()
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}

CHECKPOINT = os.environ.get("MESOS_CHECKPOINT") == "1"

lock = threading.Lock()
tasks = {}  # task id -> TaskInfo, for re-subscription
running = {}  # task id -> Popen
kill_requested = set()  # task ids the agent asked to kill
unacknowledged = {}  # update uuid (base64) -> TaskStatus sent
launched = set()  # every task id ever launched
terminal_acknowledged = set()  # task ids whose terminal update the agent acknowledged


def b64(data):
    return base64.b64encode(data).decode("ascii")


def post(call):
    """One call on its own connection; the agent answers 202 to every call but SUBSCRIBE."""
    conn = http.client.HTTPConnection(HOST, int(PORT), timeout=30)
    try:
        conn.request(
            "POST",
            PATH,
            body=json.dumps(call),
            headers={"Content-Type": JSON, "Accept": JSON},
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 202:
        raise RuntimeError(f"{call['type']} answered {response.status}: {body!r}")


def call(kind, **fields):
    message = {"type": kind, "framework_id": FRAMEWORK_ID, "executor_id": EXECUTOR_ID}
    message.update(fields)
    post(message)


def update(task_id, state, data=None, message=None):
    update_uuid = b64(uuid.uuid4().bytes)
    status = {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "executor_id": EXECUTOR_ID,
        "uuid": update_uuid,
        "timestamp": time.time(),
    }
    if data is not None:
        status["data"] = b64(data)
    if message:
        status["message"] = message
    # Recorded before sending: the ACKNOWLEDGED event may overtake the 202.
    with lock:
        unacknowledged[update_uuid] = status
    try:
        call("UPDATE", update={"status": status})
    except (OSError, RuntimeError) as error:
        # The agent is away: the update goes again with the next SUBSCRIBE.
        log(f"UPDATE {state} of {task_id} not delivered: {error}")


def watch(task_id, process):
    code = process.wait()
    with lock:
        running.pop(task_id, None)
        killed = task_id in kill_requested
    if killed:
        state = "TASK_KILLED"
    elif code == 0:
        state = "TASK_FINISHED"
    else:
        state = "TASK_FAILED"
    update(task_id, state, message=f"Command exited with status {code}")


def launch(task):
    task_id = task["task_id"]["value"]
    command = base64.b64decode(task.get("data", "")).decode() or "true"
    process = subprocess.Popen(["/bin/sh", "-c", command], cwd=SANDBOX)
    with lock:
        tasks[task_id] = task
        running[task_id] = process
        launched.add(task_id)
    log(f"task {task_id} runs as pid {process.pid}")
    report = {"executor_pid": os.getpid(), "task_pid": process.pid}
    update(task_id, "TASK_RUNNING", data=json.dumps(report).encode())
    threading.Thread(target=watch, args=(task_id, process), daemon=True).start()


def kill(task_id):
    with lock:
        process = running.get(task_id)
        kill_requested.add(task_id)
    if process is not None:
        process.terminate()


def acknowledged(update_uuid):
    with lock:
        status = unacknowledged.pop(update_uuid, None)
        if status is not None and status["state"] in TERMINAL:
            terminal_acknowledged.add(status["task_id"]["value"])
        return bool(launched) and terminal_acknowledged >= launched and not running


def message(data):
    if data == b"finish":
        open(os.path.join(SANDBOX, "finish"), "w").close()
        reply = b"finishing"
    else:
        reply = b"echo:" + data
    try:
        call("MESSAGE", message={"data": b64(reply)})
    except (OSError, RuntimeError) as error:
        log(f"MESSAGE not delivered: {error}")


def records(response):
    """The RecordIO records of a response body: '<length>\\n<bytes>' repeated."""
    while True:
        prefix = b""
        while not prefix.endswith(b"\n"):
            byte = response.read(1)
            if not byte:
                return
            prefix += byte
        size = int(prefix)
        record = b""
        while len(record) < size:
            chunk = response.read(size - len(record))
            if not chunk:
                return
            record += chunk
        yield json.loads(record)


def duration_secs(text):
    """A Mesos duration ('15mins', '2secs', '500ms') in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0,
             "hrs": 3600.0, "days": 86400.0, "weeks": 604800.0}
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(number) * units.get(text[len(number):], 1.0)


def subscribe(deadline):
    """SUBSCRIBE until the agent answers 200 or `deadline` (time.monotonic) passes;
    the tasks and updates the agent has not acknowledged go with it."""
    with lock:
        body = {
            "type": "SUBSCRIBE",
            "framework_id": FRAMEWORK_ID,
            "executor_id": EXECUTOR_ID,
            "subscribe": {
                "unacknowledged_tasks": [
                    tasks[task_id] for task_id in launched - terminal_acknowledged
                ],
                "unacknowledged_updates": [
                    {"status": status} for status in unacknowledged.values()
                ],
            },
        }
    backoff_max = duration_secs(os.environ.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"))
    backoff = 0.1
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, int(PORT))
            conn.request(
                "POST",
                PATH,
                body=json.dumps(body),
                headers={"Content-Type": JSON, "Accept": JSON},
            )
            response = conn.getresponse()
            if response.status == 200:
                return response
            log(f"SUBSCRIBE answered {response.status}: {response.read()!r}")
        except OSError as error:
            log(f"SUBSCRIBE failed: {error}")
        time.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)
    return None


def serve(response):
    """Handles events until the stream ends (None) or the executor is done (exit code)."""
    try:
        for event in records(response):
            kind = event.get("type")
            if kind == "SUBSCRIBED":
                log("subscribed, container", event["subscribed"].get("container_id"))
            elif kind == "LAUNCH":
                launch(event["launch"]["task"])
            elif kind == "LAUNCH_GROUP":
                for task in event["launch_group"]["task_group"]["tasks"]:
                    launch(task)
            elif kind == "KILL":
                kill(event["kill"]["task_id"]["value"])
            elif kind == "ACKNOWLEDGED":
                if acknowledged(event["acknowledged"]["uuid"]):
                    log("every task ended and its end was acknowledged; exiting")
                    return 0
            elif kind == "MESSAGE":
                message(base64.b64decode(event["message"]["data"]))
            elif kind == "SHUTDOWN":
                end_all_tasks()
                return 0
            elif kind == "ERROR":
                log("ERROR event:", event)
                return 1
    except (OSError, http.client.HTTPException) as error:
        log(f"the event stream broke: {error}")
    return None


def end_all_tasks():
    with lock:
        ids = list(running)
    for task_id in ids:
        kill(task_id)


def main():
    recovery_timeout = duration_secs(os.environ.get("MESOS_RECOVERY_TIMEOUT", "15mins"))
    response = subscribe(time.monotonic() + 30)
    while response is not None:
        code = serve(response)
        if code is not None:
            return code
        if not CHECKPOINT:
            log("the agent is gone and the framework does not checkpoint; exiting")
            end_all_tasks()
            return 1
        log("the agent is gone; subscribing again")
        response = subscribe(time.monotonic() + recovery_timeout)
    log("could not subscribe")
    end_all_tasks()
    return 1


if __name__ == "__main__":
    sys.exit(main())
