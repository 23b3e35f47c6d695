"""Chapter 5's scheduler: it runs each job on its own heartbeating executor
(heartbeat_executor.py beside this file) and fails and relaunches a job whose executor missed
its heartbeats.

Jobs come from a JSON file: ``[{"name", "command", "cpus"?, "mem"?, "stall_attempts"?}]``
(``stall_attempts``: how many of the job's first attempts get an executor that stalls,
a fault injected for demonstrations). An executor that has not sent a heartbeat for
``--missed`` × ``--interval`` seconds is taken for hung: its task is killed, the
executor shut down, and the job launched again, up to ``--retries`` times. Prints a
JSON report ``{"jobs": [{"name", "state", "attempts", "missed_heartbeats"}]}``.

    python heartbeat_scheduler.py --master 127.0.0.1:5050 jobs.json
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ratufa import Scheduler, first_fit, is_terminal
from ratufa.tasks import executor_info, executor_task

Json = Dict[str, Any]
log = logging.getLogger("heartbeat_scheduler")
EXECUTOR = Path(__file__).resolve().parent / "heartbeat_executor.py"


@dataclass
class Job:
    name: str
    command: str
    cpus: float = 0.1
    mem: float = 32.0
    stall_attempts: int = 0
    state: str = "PENDING"
    attempts: int = 0
    missed_heartbeats: int = 0
    task_id: Optional[str] = None
    agent_id: Optional[Json] = None
    last_beat: float = 0.0

    @property
    def executor_id(self) -> str:
        return f"{self.name}-{self.attempts}-executor"


class HeartbeatScheduler:
    def __init__(self, sched: Scheduler, jobs: List[Job], interval: float, missed: float, retries: int) -> None:
        self.sched = sched
        self.jobs = jobs
        self.by_task: Dict[str, Job] = {}
        self.interval = interval
        self.missed = missed
        self.retries = retries
        self.lock = threading.Lock()
        self.done = threading.Event()

    def on_offers(self, sched: Scheduler, event: Json) -> None:
        offers = event["offers"]["offers"]
        with self.lock:
            pending = [j for j in self.jobs if j.state == "PENDING"]
            # The executor's own resources count too.
            placements, _ = first_fit(pending, offers, lambda j: {"cpus": j.cpus + 0.1, "mem": j.mem + 32})
            used = set()
            for placement in placements:
                tasks = [self.task_for(job, placement.agent_id) for job, _ in placement.jobs]
                sched.launch([placement.offer], tasks, refuse_seconds=1)
                used.add(placement.offer["id"]["value"])
        idle = [o for o in offers if o["id"]["value"] not in used]
        if idle:
            sched.decline(idle, refuse_seconds=1)

    def task_for(self, job: Job, agent_id: Json) -> Json:
        job.attempts += 1
        job.state = "STAGING"
        job.task_id = f"{job.name}-{job.attempts}"
        job.agent_id = agent_id
        job.last_beat = time.monotonic()  # launching counts as a sign of life
        self.by_task[job.task_id] = job
        spec = {
            "command": job.command,
            "interval": self.interval,
            "stall_after": 2 if job.attempts <= job.stall_attempts else None,
        }
        executor = executor_info(job.executor_id, f"{sys.executable} {EXECUTOR}",
                                 framework_id=self.sched.framework_id)  # fmt: skip
        data = base64.b64encode(json.dumps(spec).encode()).decode()
        return executor_task(agent_id, executor, cpus=job.cpus, mem=job.mem, task_id=job.task_id,
                             name=job.name, data=data)  # fmt: skip

    def on_message(self, sched: Scheduler, event: Json) -> None:
        beat = json.loads(base64.b64decode(event["message"]["data"]))
        with self.lock:
            job = self.by_task.get(beat.get("task_id", ""))
            if job is not None and job.task_id == beat["task_id"]:
                job.last_beat = time.monotonic()

    def on_update(self, sched: Scheduler, event: Json) -> None:
        status = event["update"]["status"]
        with self.lock:
            job = self.by_task.get(status["task_id"]["value"])
            if job is None or job.task_id != status["task_id"]["value"] or job.state in ("SUCCESSFUL", "FAILED"):
                return
            state = status["state"]
            if state in ("TASK_STARTING", "TASK_RUNNING"):
                if job.state != "RUNNING":
                    job.last_beat = time.monotonic()  # the beats start now
                job.state = "RUNNING"
            elif state == "TASK_FINISHED":
                job.state = "SUCCESSFUL"
            elif is_terminal(state):
                self.retry(job, state)
            finished = all(j.state in ("SUCCESSFUL", "FAILED") for j in self.jobs)
        if finished:
            self.done.set()
            sched.teardown()

    def retry(self, job: Job, why: str) -> None:
        if job.attempts > self.retries:
            job.state = "FAILED"
        else:
            job.state = "PENDING"
            log.info("relaunching %s (%s)", job.name, why)
            self.sched.revive()

    def watch(self) -> None:
        """Every interval: a job whose executor is silent too long is failed, its task
        killed and its executor shut down, and it is launched again."""
        while not self.done.wait(self.interval):
            now = time.monotonic()
            with self.lock:
                hung = [j for j in self.jobs if j.state == "RUNNING" and now - j.last_beat > self.missed * self.interval]
                for job in hung:
                    job.missed_heartbeats += 1
                    log.warning("%s missed its heartbeats", job.name)
                    if job.task_id and job.agent_id:
                        self.sched.kill(job.task_id, job.agent_id)
                        self.sched.shutdown(job.executor_id, job.agent_id)
                    # Given up: whatever that attempt's task reports later is ignored.
                    job.task_id = None
                    self.retry(job, "missed heartbeats")

    def report(self) -> Json:
        return {"jobs": [{"name": j.name, "state": j.state, "attempts": j.attempts,
                          "missed_heartbeats": j.missed_heartbeats} for j in self.jobs]}  # fmt: skip


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Chapter 5's heartbeating executor's scheduler")
    parser.add_argument("jobs")
    parser.add_argument("--master", default="127.0.0.1:5050")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between heartbeats")
    parser.add_argument("--missed", type=float, default=3, help="heartbeats missed before a job fails")
    parser.add_argument("--retries", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with open(args.jobs) as f:
        jobs = [Job(**raw) for raw in json.load(f)]
    with Scheduler(args.master, {"name": "heartbeat-jobs"}) as sched:
        runner = HeartbeatScheduler(sched, jobs, args.interval, args.missed, args.retries)
        threading.Thread(target=runner.watch, daemon=True).start()
        if jobs:
            sched.run(runner)
        runner.done.set()
    print(json.dumps(runner.report()), flush=True)
    return 0 if all(j.state == "SUCCESSFUL" for j in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
