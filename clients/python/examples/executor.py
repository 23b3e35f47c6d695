"""A custom executor on ratufa.Executor.

Each task's ``data`` (base64) is a shell command; the executor runs it, reports
TASK_RUNNING, then TASK_FINISHED or TASK_FAILED by its exit status. KILL kills it
(TASK_KILLED). A framework message is answered with ``echo: <message>``. When the agent
is lost (it restarted), the executor reports each running task again; those updates
reach the agent with the next SUBSCRIBE, and after re-subscribing it tells the
scheduler ``subscribed <n>``.

Run by the agent, as ExecutorInfo.command: ``python3 .../examples/executor.py``.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
from typing import Any, Dict

from ratufa import Executor

Json = Dict[str, Any]


def kill_tree(process: "subprocess.Popen[bytes]") -> None:
    """SIGKILL to the command and everything in its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass  # already gone


class CommandRunner:
    def __init__(self) -> None:
        self.processes: Dict[str, "subprocess.Popen[bytes]"] = {}
        self.lock = threading.Lock()

    def on_subscribed(self, executor: Executor, event: Json) -> None:
        if executor.subscriptions > 1:
            executor.message(f"subscribed {executor.subscriptions}")

    def on_launch(self, executor: Executor, event: Json) -> None:
        task = event["launch"]["task"]
        task_id = task["task_id"]["value"]
        command = base64.b64decode(task.get("data", "")).decode() or "true"
        # A session of its own: a kill reaches whatever the command forks.
        process = subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True)
        with self.lock:
            self.processes[task_id] = process
        executor.update(task_id, "TASK_RUNNING")
        threading.Thread(target=self.wait, args=(executor, task_id, process), daemon=True).start()

    def wait(self, executor: Executor, task_id: str, process: "subprocess.Popen[bytes]") -> None:
        code = process.wait()
        with self.lock:
            killed = self.processes.pop(task_id, None) is None
        if killed or code < 0:
            executor.update(task_id, "TASK_KILLED")
        elif code == 0:
            executor.update(task_id, "TASK_FINISHED")
        else:
            executor.update(task_id, "TASK_FAILED", message=f"Command exited with status {code}")

    def on_kill(self, executor: Executor, event: Json) -> None:
        with self.lock:
            process = self.processes.pop(event["kill"]["task_id"]["value"], None)
        if process is not None:
            kill_tree(process)

    def on_message(self, executor: Executor, event: Json) -> None:
        text = base64.b64decode(event["message"]["data"]).decode()
        executor.message(f"echo: {text}")

    def on_disconnected(self, executor: Executor, why: str) -> None:
        with self.lock:
            running = list(self.processes)
        for task_id in running:
            executor.update(task_id, "TASK_RUNNING", message="reported while the agent was away")

    def on_shutdown(self, executor: Executor, event: Json) -> None:
        with self.lock:
            for process in self.processes.values():
                kill_tree(process)


if __name__ == "__main__":
    runner = CommandRunner()
    try:
        with Executor() as executor:
            executor.run(runner)
    finally:
        # No task outlives its executor (an agent would destroy the container too).
        for process in list(runner.processes.values()):
            kill_tree(process)
