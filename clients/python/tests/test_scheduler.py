"""The scheduler client against a real `ratufa local`: tasks run and are acknowledged,
calls, callbacks, asyncio, and a stream that breaks (master restart, silence)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest

from cluster import HERE, PATIENCE, Ratufa, local, settled, wait_for
from proxy import Proxy
from ratufa import (
    AsyncScheduler,
    HTTPError,
    MasterError,
    Scheduler,
    ValidationError,
    command_task,
    first_fit,
    is_terminal,
)

Json = Dict[str, Any]
EXAMPLES = HERE.parent / "examples"


def jobs(n: int) -> List[Json]:
    return [{"id": f"job-{i}", "cpus": 0.5, "mem": 64, "command": f"echo job {i}"} for i in range(n)]


class TaskRunner:
    """Launches ``jobs`` onto offers (first fit), declines the rest, and records each
    job's last state; the shared body of the sync and asyncio tests."""

    def __init__(self, todo: List[Json]) -> None:
        self.todo = list(todo)
        self.states: Dict[str, str] = {}
        self.acked_by_hand = 0

    def plan(self, offers: List[Json]) -> tuple:  # type: ignore[type-arg]
        placements, self.todo = first_fit(self.todo, offers)
        launches = []
        used = set()
        for p in placements:
            tasks = [
                command_task(p.agent_id, job["command"], resources=taken.to_json(), task_id=job["id"])
                for job, taken in p.jobs
            ]
            launches.append((p.offer, tasks))
            used.add(p.offer["id"]["value"])
        unused = [o for o in offers if o["id"]["value"] not in used]
        return launches, unused

    def record(self, event: Json) -> None:
        status = event["update"]["status"]
        self.states[status["task_id"]["value"]] = status["state"]

    def done(self, n: int) -> bool:
        return len(self.states) == n and all(is_terminal(s) for s in self.states.values())


def run_sync(cluster_address: str, n: int, **options: Any) -> TaskRunner:
    runner = TaskRunner(jobs(n))
    with Scheduler(cluster_address, {"name": "py-tasks"}, **options) as sched:
        for event in sched.events():
            if event["type"] == "OFFERS":
                launches, unused = runner.plan(event["offers"]["offers"])
                for offer, tasks in launches:
                    sched.launch([offer], tasks)
                if unused:
                    sched.decline(unused, refuse_seconds=1)
            elif event["type"] == "UPDATE":
                runner.record(event)
                if not options.get("auto_acknowledge", True):
                    sched.acknowledge_update(event["update"]["status"])
                    runner.acked_by_hand += 1
                if runner.done(n):
                    sched.teardown()
    return runner


def test_readme_scheduler_runs_a_task(cluster: Ratufa) -> None:
    source = (EXAMPLES / "hello.py").read_text()
    readme = (HERE.parent / "README.md").read_text()
    assert source in readme, "README.md must show examples/hello.py as it is"
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "hello.py"), cluster.address],
        capture_output=True, text=True, timeout=PATIENCE,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + cluster.log()
    assert out.stdout.split() == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], out.stdout
    settled(cluster, 1)


def test_twelve_tasks_finish_and_every_update_is_acknowledged(cluster: Ratufa) -> None:
    runner = run_sync(cluster.address, 12)
    assert runner.states == {f"job-{i}": "TASK_FINISHED" for i in range(12)}
    m = settled(cluster, 12)
    assert m["master/valid_status_updates"] >= 36
    assert m["master/tasks_failed"] == 0 and m["master/frameworks_active"] == 0


def test_manual_acknowledgements(cluster: Ratufa) -> None:
    # The agent holds a task's next update until the previous one is acknowledged:
    # without the client's own ACKNOWLEDGEs no task would get past TASK_STARTING.
    runner = run_sync(cluster.address, 10, auto_acknowledge=False)
    assert set(runner.states.values()) == {"TASK_FINISHED"}
    assert runner.acked_by_hand >= 30
    settled(cluster, 10)


def test_asyncio_scheduler_with_callbacks(cluster: Ratufa) -> None:
    runner = TaskRunner(jobs(10))

    class Handler:
        subscribed: Optional[str] = None

        def on_subscribed(self, sched: AsyncScheduler, event: Json) -> None:
            self.subscribed = event["subscribed"]["framework_id"]["value"]

        async def on_offers(self, sched: AsyncScheduler, event: Json) -> None:
            launches, unused = runner.plan(event["offers"]["offers"])
            for offer, tasks in launches:
                await sched.launch([offer], tasks)
            if unused:
                await sched.decline(unused, refuse_seconds=1)

        async def on_update(self, sched: AsyncScheduler, event: Json) -> None:
            runner.record(event)
            if runner.done(10):
                await sched.teardown()

    handler = Handler()

    async def main() -> str:
        async with AsyncScheduler(cluster.address, {"name": "py-async"}) as sched:
            await asyncio.wait_for(sched.run(handler), PATIENCE)
            return sched.framework_id or ""

    framework_id = asyncio.run(main())
    assert handler.subscribed == framework_id
    assert runner.states == {f"job-{i}": "TASK_FINISHED" for i in range(10)}
    settled(cluster, 10)


def test_resubscribes_with_its_id_after_the_master_restarts(cluster: Ratufa) -> None:
    # A restarted ratufa master has no registry of frameworks; as a Mesos master after
    # failover, it accepts the framework back under its id. The client re-subscribes
    # by itself and the new master runs its tasks.
    sched = Scheduler(cluster.address, {"name": "py-restart", "failover_timeout": 3600}, backoff_max=1)
    ids: List[str] = []
    restarter: Optional[threading.Thread] = None
    runner = TaskRunner(jobs(2))
    for event in sched.events():
        if event["type"] == "SUBSCRIBED":
            ids.append(event["subscribed"]["framework_id"]["value"])
            if len(ids) == 1:
                restarter = threading.Thread(target=cluster.restart)
                restarter.start()
        elif event["type"] == "OFFERS":
            if len(ids) == 1:
                sched.decline(event["offers"]["offers"], refuse_seconds=0.1)
                continue
            launches, unused = runner.plan(event["offers"]["offers"])
            for offer, tasks in launches:
                sched.launch([offer], tasks)
            if unused:
                sched.decline(unused)
        elif event["type"] == "UPDATE":
            runner.record(event)
            if runner.done(2):
                sched.teardown()
    sched.close()
    assert restarter is not None
    restarter.join()
    assert len(ids) == 2 and ids[0] == ids[1], ids
    assert runner.states == {"job-0": "TASK_FINISHED", "job-1": "TASK_FINISHED"}
    settled(cluster, 2)


def test_a_silent_stream_is_dropped_and_resubscribed(cluster: Ratufa) -> None:
    # The master announces 1 s heartbeats; after ~5 s without a byte the client gives
    # the stream up and subscribes again (through the proxy, which forwards new
    # connections) under the same framework id.
    proxy = Proxy(cluster.port)
    try:
        sched = Scheduler(proxy.address, {"name": "py-silence", "failover_timeout": 60}, backoff_max=1)
        subscribed: List[str] = []
        for event in sched.events():
            if event["type"] == "SUBSCRIBED":
                subscribed.append(event["subscribed"]["framework_id"]["value"])
                if len(subscribed) == 1:
                    proxy.freeze()
                else:
                    sched.teardown()
            elif event["type"] == "OFFERS" and len(subscribed) == 2:
                sched.decline(event["offers"]["offers"])
        sched.close()
        assert len(subscribed) == 2 and subscribed[0] == subscribed[1], subscribed
        assert proxy.connections >= 2
    finally:
        proxy.close()


def test_error_event_raises_master_error(cluster: Ratufa) -> None:
    with Scheduler(cluster.address, {"name": "py-gone"}) as first:
        events = first.events()
        assert next(events)["type"] == "SUBSCRIBED"
        framework_id = first.framework_id
        first.teardown()
    again = Scheduler(cluster.address, {"name": "py-gone", "id": {"value": framework_id}})
    with pytest.raises(MasterError) as caught:
        for _ in again.events():
            pass
    assert "removed" in caught.value.message.lower(), caught.value.message
    again.close()


def test_4xx_raises_http_error_with_the_masters_message(cluster: Ratufa) -> None:
    with Scheduler(cluster.address, {"name": "py-4xx"}) as sched:
        events = sched.events()  # held: the stream (and its id) lives as long as the iterator
        assert next(events)["type"] == "SUBSCRIBED"
        # Roles without the MULTI_ROLE capability: the master's own check refuses it.
        with pytest.raises(HTTPError) as caught:
            sched.update_framework({"name": "py-4xx", "user": "root", "roles": ["a", "b"]})
        assert caught.value.status == 400
        assert "MULTI_ROLE" in caught.value.body, caught.value.body
        sched.teardown()


def test_subscribe_4xx_raises_http_error(cluster: Ratufa) -> None:
    # The master refuses a framework id it did not give when SUBSCRIBE's framework_id
    # differs from framework_info.id: a request the client lets through untouched
    # only when asked to send it as is.
    sched = Scheduler(cluster.address, {"name": "py-bad", "id": {"value": "x"}})
    sched._session.subscribe_call = lambda roles: {  # type: ignore[method-assign]
        "type": "SUBSCRIBE",
        "framework_id": {"value": "y"},
        "subscribe": {"framework_info": {"name": "py-bad", "user": "root", "id": {"value": "x"}}},
    }
    with pytest.raises(HTTPError) as caught:
        next(sched.events())
    assert caught.value.status == 400 and "framework_id" in caught.value.body.lower(), caught.value
    sched.close()


def test_validation_before_sending() -> None:
    with pytest.raises(ValidationError, match="name"):
        Scheduler("127.0.0.1:1", {"user": "root"})
    with pytest.raises(ValidationError, match="roles"):
        Scheduler("127.0.0.1:1", {"name": "x", "roles": ["a/b"]})
    with pytest.raises(ValidationError, match="master"):
        Scheduler("", {"name": "x"})


def test_asyncio_client_drops_a_silent_stream_too(cluster: Ratufa) -> None:
    proxy = Proxy(cluster.port)

    async def main() -> List[str]:
        subscribed: List[str] = []
        async with AsyncScheduler(proxy.address, {"name": "py-async-silence", "failover_timeout": 60}, backoff_max=1) as sched:
            async for event in sched.events():
                if event["type"] == "SUBSCRIBED":
                    subscribed.append(event["subscribed"]["framework_id"]["value"])
                    if len(subscribed) == 1:
                        proxy.freeze()
                    else:
                        await sched.teardown()
        return subscribed

    try:
        subscribed = asyncio.run(asyncio.wait_for(main(), PATIENCE))
        assert len(subscribed) == 2 and subscribed[0] == subscribed[1], subscribed
    finally:
        proxy.close()


def test_every_call_reaches_the_master(cluster: Ratufa) -> None:
    # What ratufa does today with each call of the scheduler API: most are accepted
    # (202, or 200 for UPDATE_FRAMEWORK); the operation-status calls answer 501 (no
    # offer operations beyond LAUNCH yet), which the client raises as HTTPError.
    uuid_b64 = base64.b64encode(uuid.uuid4().bytes).decode()
    with Scheduler(cluster.address, {"name": "py-calls"}) as sched:
        events = sched.events()
        assert next(events)["type"] == "SUBSCRIBED"
        sched.request([{"resources": []}])
        sched.accept_inverse_offers(["no-such-inverse-offer"])
        sched.decline_inverse_offers(["no-such-inverse-offer"], refuse_seconds=1)
        sched.suppress(["*"])
        sched.revive()
        sched.message("no-such-agent", "no-such-executor", b"hello")
        sched.shutdown("no-such-executor", "no-such-agent")
        sched.update_framework({"name": "py-calls", "user": "root"})
        sched.reconcile([("no-such-task", None)])
        for call in (lambda: sched.reconcile_operations(), lambda: sched.acknowledge_operation_status("op", uuid_b64, agent_id="a")):
            with pytest.raises(HTTPError) as caught:
                call()
            assert caught.value.status == 501 and "not implemented" in caught.value.body
        sched.kill("no-such-task")
        # KILL of an unknown task is answered by reconciliation: TASK_LOST, no uuid.
        status = next(e for e in events if e["type"] == "UPDATE")["update"]["status"]
        assert status["task_id"] == {"value": "no-such-task"} and status["state"] == "TASK_LOST"
        assert "uuid" not in status and status["reason"] == "REASON_RECONCILIATION"
        assert sched.subscriptions == 1
        sched.teardown()


def test_a_slow_handler_keeps_its_stream(cluster: Ratufa) -> None:
    # Heartbeats arriving while the program works on an event wait in the socket: only
    # time spent waiting for bytes counts toward the missed-heartbeat allowance (5 s).
    with Scheduler(cluster.address, {"name": "py-slow"}) as sched:
        events = sched.events()
        assert next(events)["type"] == "SUBSCRIBED"
        time.sleep(7)
        sched.suppress()  # still the same subscription: the master answers 202
        assert next(events)["type"] == "OFFERS"
        assert sched.subscriptions == 1
        sched.teardown()


def test_http_authentication(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("py-principal py-secret\n")
    cluster = local(1, ["--authenticate_http_frameworks", f"--credentials={credentials}"])
    try:
        info = {"name": "py-auth", "principal": "py-principal"}
        with Scheduler(cluster.address, info, auth=httpx.BasicAuth("py-principal", "py-secret")) as sched:
            events = sched.events()
            assert next(events)["type"] == "SUBSCRIBED"
            sched.teardown()
        with Scheduler(cluster.address, info) as anonymous:
            with pytest.raises(HTTPError) as caught:
                next(anonymous.events())
            assert caught.value.status == 401
        with Scheduler(cluster.address, info, auth=httpx.BasicAuth("py-principal", "wrong")) as wrong:
            with pytest.raises(HTTPError) as caught:
                next(wrong.events())
            assert caught.value.status == 401
    finally:
        cluster.cleanup()
