"""The job processor of "Building Applications on Mesos", chapter 4, on the ratufa client.

Jobs come from a JSON file, a list of ``{"name": ..., "cpus": ..., "mem": ...,
"command": ...}``. Each job goes PENDING → STAGING (launched) → RUNNING → SUCCESSFUL,
or back to PENDING when its task fails, until it has been retried ``--retries``
times (3) and is FAILED. Every OFFERS event is packed first-fit with as many pending
jobs as fit; what is left of the offers is declined. The framework asks for a week's
failover_timeout and reconciles its running tasks every ``--reconcile-seconds``.
When every job is SUCCESSFUL or FAILED it tears down and prints one JSON report:
``{"jobs": [{"name", "state", "attempts"}...]}``.

With ``--zk zk://host:port/path`` (needs ``ratufa[zk]``) several instances run at once:
they elect a leader through ZooKeeper (``<path>/election``), and only the leader
schedules. It keeps the framework id and every job's state in ``<path>/state``, and
acknowledges an update only once the state it led to is stored there; an instance
elected after the leader died takes the stored state over, re-subscribes under the
same framework id (the failover_timeout keeps the framework alive meanwhile) and
reconciles the tasks it inherited.

    python job_processor.py --master 127.0.0.1:5050 jobs.json
    python job_processor.py --master 127.0.0.1:5050 --zk zk://127.0.0.1:2181/jobs jobs.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ratufa import Scheduler, command_task, first_fit, is_terminal
from ratufa.framework import ONE_WEEK_SECONDS

Json = Dict[str, Any]
log = logging.getLogger("job_processor")


@dataclass
class Job:
    name: str
    cpus: float
    mem: float
    command: str
    state: str = "PENDING"
    attempts: int = 0
    task_id: Optional[str] = None
    agent_id: Optional[Json] = None

    def to_json(self) -> Json:
        return {"name": self.name, "state": self.state, "attempts": self.attempts,
                "task_id": self.task_id, "agent_id": self.agent_id}  # fmt: skip

    def restore(self, saved: Json) -> None:
        self.state = str(saved["state"])
        self.attempts = int(saved["attempts"])
        self.task_id = saved.get("task_id")
        self.agent_id = saved.get("agent_id")

    @classmethod
    def parse(cls, i: int, raw: Any) -> "Job":
        if not isinstance(raw, dict):
            raise ValueError(f"jobs[{i}] is not an object")
        for key in ("cpus", "mem", "command"):
            if key not in raw:
                raise ValueError(f"jobs[{i}].{key} is required")
        return cls(str(raw.get("name", f"job-{i}")), float(raw["cpus"]), float(raw["mem"]), str(raw["command"]))


class JobProcessor:
    """The callbacks of the framework. ``save`` stores :meth:`snapshot` (ZooKeeper);
    updates are acknowledged after it returns."""

    def __init__(
        self,
        sched: Scheduler,
        jobs: List[Job],
        retries: int,
        reconcile_seconds: float,
        save: Callable[[Json], None] = lambda snapshot: None,
    ) -> None:
        self.sched = sched
        self.jobs = jobs
        self.by_task: Dict[str, Job] = {j.task_id: j for j in jobs if j.task_id}
        self.retries = retries
        self.reconcile_seconds = reconcile_seconds
        self.save = save
        self.lock = threading.Lock()
        self.done = threading.Event()

    def snapshot(self) -> Json:
        return {"framework_id": self.sched.framework_id, "jobs": [j.to_json() for j in self.jobs]}

    def pending(self) -> List[Job]:
        return [j for j in self.jobs if j.state == "PENDING"]

    def on_subscribed(self, sched: Scheduler, event: Json) -> None:
        with self.lock:
            self.save(self.snapshot())
        # Whatever happened while disconnected: ask for the state of every task.
        sched.reconcile()
        if self.pending():
            sched.revive()

    def on_offers(self, sched: Scheduler, event: Json) -> None:
        offers = event["offers"]["offers"]
        with self.lock:
            placements, _ = first_fit(self.pending(), offers, lambda j: {"cpus": j.cpus, "mem": j.mem})
            used = set()
            for placement in placements:
                tasks = []
                for job, taken in placement.jobs:
                    job.attempts += 1
                    job.state = "STAGING"
                    job.task_id = f"{job.name}-{job.attempts}"
                    job.agent_id = placement.agent_id
                    self.by_task[job.task_id] = job
                    tasks.append(command_task(job.agent_id, job.command, resources=taken.to_json(),
                                              task_id=job.task_id, name=job.name))  # fmt: skip
                # Stored before launching: a successor knows every task it may inherit.
                self.save(self.snapshot())
                sched.launch([placement.offer], tasks, refuse_seconds=1)
                used.add(placement.offer["id"]["value"])
            idle = [o for o in offers if o["id"]["value"] not in used]
            nothing_left = not self.pending()
        if idle:
            sched.decline(idle, refuse_seconds=30 if nothing_left else 1)
        if nothing_left:
            sched.suppress()

    def on_update(self, sched: Scheduler, event: Json) -> None:
        status = event["update"]["status"]
        with self.lock:
            self.apply(status)
            self.save(self.snapshot())
            finished = all(j.state in ("SUCCESSFUL", "FAILED") for j in self.jobs)
        sched.acknowledge_update(status)
        if finished:
            self.done.set()
            sched.teardown()

    def apply(self, status: Json) -> None:
        job = self.by_task.get(status["task_id"]["value"])
        if job is None or job.task_id != status["task_id"]["value"] or job.state in ("SUCCESSFUL", "FAILED"):
            return
        state = status["state"]
        if state in ("TASK_STARTING", "TASK_RUNNING"):
            job.state = "RUNNING"
        elif state == "TASK_FINISHED":
            job.state = "SUCCESSFUL"
        elif is_terminal(state):
            if job.attempts > self.retries:
                job.state = "FAILED"
            else:
                job.state = "PENDING"
                log.info("retrying %s after %s", job.name, state)
                self.sched.revive()

    def reconcile_periodically(self) -> None:
        while not self.done.wait(self.reconcile_seconds):
            with self.lock:
                active = [(j.task_id, j.agent_id) for j in self.jobs if j.state in ("STAGING", "RUNNING") and j.task_id]
            if active and self.sched.framework_id:
                self.sched.reconcile(active)

    def report(self) -> Json:
        return {"jobs": [{"name": j.name, "state": j.state, "attempts": j.attempts} for j in self.jobs]}


class ZkStore:
    """The job states in ZooKeeper, as one JSON node."""

    def __init__(self, client: Any, path: str) -> None:
        self.client = client
        self.path = path

    def load(self) -> Optional[Json]:
        if not self.client.exists(self.path):
            return None
        data, _ = self.client.get(self.path)
        loaded: Json = json.loads(data)
        return loaded

    def save(self, snapshot: Json) -> None:
        data = json.dumps(snapshot).encode()
        if self.client.exists(self.path):
            self.client.set(self.path, data)
        else:
            self.client.create(self.path, data, makepath=True)


def schedule(args: argparse.Namespace, jobs: List[Job], store: Optional[ZkStore]) -> int:
    """Runs the jobs to the end as the framework's scheduler; the exit status."""
    info: Json = {"name": "job-processor", "failover_timeout": ONE_WEEK_SECONDS}
    saved = store.load() if store is not None else None
    if saved is not None:
        by_name = {j["name"]: j for j in saved.get("jobs", [])}
        for job in jobs:
            if job.name in by_name:
                job.restore(by_name[job.name])
        if saved.get("framework_id"):
            info["id"] = {"value": saved["framework_id"]}
            log.info("taking over framework %s", saved["framework_id"])
    with Scheduler(args.master, info, auto_acknowledge=False) as sched:
        save = store.save if store is not None else (lambda snapshot: None)
        processor = JobProcessor(sched, jobs, args.retries, args.reconcile_seconds, save)
        threading.Thread(target=processor.reconcile_periodically, daemon=True).start()
        if any(j.state not in ("SUCCESSFUL", "FAILED") for j in jobs):
            sched.run(processor)
        processor.done.set()
    print(json.dumps(processor.report()), flush=True)
    return 0 if all(j.state == "SUCCESSFUL" for j in jobs) else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("jobs", help="JSON file: a list of {name, cpus, mem, command}")
    parser.add_argument("--master", default="127.0.0.1:5050", help="host:port[,host:port] or zk://")
    parser.add_argument("--zk", help="zk://host:port/path: elect a leader, keep the state there")
    parser.add_argument("--name", default="", help="this instance's name in the election")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--reconcile-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with open(args.jobs) as f:
        jobs = [Job.parse(i, raw) for i, raw in enumerate(json.load(f))]
    if not args.zk:
        return schedule(args, jobs, None)

    from kazoo.client import KazooClient

    from ratufa.zk import parse_zk_url

    hosts, path, auth = parse_zk_url(args.zk)
    client = KazooClient(hosts=hosts, timeout=4.0, auth_data=[("digest", auth)] if auth else None)
    client.start(timeout=30)
    result: List[int] = []
    try:
        election = client.Election(f"{path}/election", args.name or None)
        log.info("waiting to be elected")
        election.run(lambda: result.append(schedule(args, jobs, ZkStore(client, f"{path}/state"))))
    finally:
        client.stop()
    return result[0] if result else 1


if __name__ == "__main__":
    sys.exit(main())
