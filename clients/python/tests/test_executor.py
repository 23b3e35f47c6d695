"""The executor client (examples/executor.py, on ratufa.Executor) run by a real agent
as a custom executor: tasks finish, fail and are killed, framework messages go both
ways, and after the agent restarts the executor re-subscribes and delivers the updates
it made while the agent was away (it reaches the scheduler).

Skipped, saying why, if the agent does not serve /api/v1/executor."""

from __future__ import annotations

import base64
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Optional

import pytest

from cluster import HERE, PATIENCE, Ratufa, free_port, wait_for
from ratufa import Scheduler, is_terminal
from ratufa.tasks import executor_info, executor_task

Json = Dict[str, Any]
EXECUTOR = f"{sys.executable} {HERE.parent / 'examples' / 'executor.py'}"


def agent_endpoint(master: Ratufa) -> str:
    pid = master.get_json("/master/state")["slaves"][0]["pid"]
    return str(pid).split("@", 1)[1]


def require_executor_api(master: Ratufa) -> None:
    request = urllib.request.Request(
        f"http://{agent_endpoint(master)}/api/v1/executor", data=b"{}",
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            pytest.skip("the agent does not serve /api/v1/executor yet (issue #4)")


def executor_pids(framework_id: str) -> List[int]:
    """The processes of examples/executor.py running for ``framework_id``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
            environ = open(f"/proc/{entry}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"executor.py" in cmdline and f"MESOS_FRAMEWORK_ID={framework_id}".encode() in environ:
            pids.append(int(entry))
    return pids


def wait_alive(pids: List[int]) -> bool:
    """Whether ``pids`` are still there a few seconds after their agent was killed
    (a kernel's parent-death signal is immediate; a busy machine is not)."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not all(os.path.exists(f"/proc/{pid}") for pid in pids):
            return False
        time.sleep(0.1)
    return True


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Run:
    """A framework that puts ``commands`` on the example executor and keeps what
    comes back."""

    def __init__(self, sched: Scheduler, commands: Dict[str, str]) -> None:
        self.sched = sched
        self.commands = commands
        self.launched = False
        self.states: Dict[str, List[str]] = {t: [] for t in commands}
        self.messages: List[str] = []
        self.updates: List[Json] = []
        self.agent_id: Optional[Json] = None

    def offers(self, event: Json) -> None:
        offers = event["offers"]["offers"]
        if self.launched:
            self.sched.decline(offers)
            return
        offer = offers[0]
        self.agent_id = offer["agent_id"]
        fid = self.sched.framework_id
        ex = executor_info("py-executor", EXECUTOR, framework_id=fid)
        tasks = [executor_task(offer["agent_id"], ex, task_id=t, data=b64(c)) for t, c in self.commands.items()]
        self.sched.launch([offer], tasks)
        self.launched = True
        if offers[1:]:
            self.sched.decline(offers[1:])

    def update(self, event: Json) -> str:
        status = event["update"]["status"]
        self.updates.append(status)
        self.states[status["task_id"]["value"]].append(status["state"])
        return str(status["task_id"]["value"])

    def message(self, event: Json) -> str:
        text = base64.b64decode(event["message"]["data"]).decode()
        self.messages.append(text)
        return text

    def tell(self, text: str) -> None:
        assert self.agent_id is not None
        self.sched.message(self.agent_id, "py-executor", text)


@pytest.fixture
def cluster_with_executors(cluster: Ratufa) -> Iterator[Ratufa]:
    require_executor_api(cluster)
    yield cluster


def test_custom_executor_runs_kills_and_messages(cluster_with_executors: Ratufa) -> None:
    cluster = cluster_with_executors
    commands = {"ok": "true", "bad": "exit 3", "long": "sleep 600"}
    with Scheduler(cluster.address, {"name": "py-executor"}) as sched:
        run = Run(sched, commands)
        for event in sched.events():
            if event["type"] == "OFFERS":
                run.offers(event)
            elif event["type"] == "UPDATE":
                task = run.update(event)
                if task == "long" and event["update"]["status"]["state"] == "TASK_RUNNING":
                    run.tell("ping")
            elif event["type"] == "MESSAGE":
                if run.message(event) == "echo: ping":
                    sched.kill("long", run.agent_id)
            if all(s and is_terminal(s[-1]) for s in run.states.values()):
                sched.teardown()
    assert {t: s[-1] for t, s in run.states.items()} == {
        "ok": "TASK_FINISHED", "bad": "TASK_FAILED", "long": "TASK_KILLED",
    }, run.updates  # fmt: skip
    assert "echo: ping" in run.messages
    assert all(u["executor_id"] == {"value": "py-executor"} for u in run.updates if u.get("source") == "SOURCE_EXECUTOR")


def test_executor_resubscribes_after_the_agent_restarts() -> None:
    master = Ratufa("master", ["--scheduler_heartbeat_interval=1secs"]).start()
    agent_port = free_port()
    agent = Ratufa("agent", [f"--master={master.address}", "--resources=cpus:4;mem:2048"], port=agent_port)
    try:
        agent.start()
        wait_for("the agent registered", lambda: master.metrics().get("master/slaves_active") == 1, log=agent.log)
        require_executor_api(master)
        sched = Scheduler(master.address, {"name": "py-recover", "checkpoint": True, "failover_timeout": 600})
        run = Run(sched, {"long": "sleep 600"})
        restarted = False
        deadline = time.monotonic() + PATIENCE
        for event in sched.events():
            if event["type"] == "OFFERS":
                run.offers(event)
            elif event["type"] == "UPDATE":
                run.update(event)
                if run.states["long"] == ["TASK_RUNNING"] and not restarted:
                    executors = executor_pids(sched.framework_id or "")
                    assert executors, "no executor process found"
                    agent.stop(whole_group=False)  # SIGKILL to the agent alone
                    # A checkpointing framework's executor outlives its agent.
                    assert wait_alive(executors), "the executor died with its agent"
                    agent.start()  # the same port and work dir
                    restarted = True
                status = event["update"]["status"]
                if status.get("message") == "reported while the agent was away":
                    sched.kill("long", run.agent_id)
            elif event["type"] == "MESSAGE":
                run.message(event)
            if run.states["long"] and is_terminal(run.states["long"][-1]):
                sched.teardown()
            assert time.monotonic() < deadline, (run.updates, run.messages)
        sched.close()
        assert run.states["long"][-1] == "TASK_KILLED", run.updates
        # Sent while the agent was down, it could only arrive with the re-subscription.
        away = [u for u in run.updates if u.get("message") == "reported while the agent was away"]
        assert away and away[0]["source"] == "SOURCE_EXECUTOR", run.updates
    finally:
        agent.cleanup()
        master.cleanup()
