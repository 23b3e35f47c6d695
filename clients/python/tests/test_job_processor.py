"""examples/jobs/job_processor.py (the book's chapter 4) runs a 50-job file to the end
on `ratufa local`: jobs packed many per offer, flaky jobs retried to success, failing
jobs FAILED after three retries, every update acknowledged; and with two instances
elected through ZooKeeper, the survivor finishes the jobs after the leader is killed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict

from kazoo.client import KazooClient

from cluster import HERE, Ratufa, wait_for
from zookeeper import ZooKeeper

PROCESSOR = HERE.parent / "examples" / "jobs" / "job_processor.py"


def test_fifty_jobs_with_retries(cluster: Ratufa, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    jobs = [{"name": f"ok-{i}", "cpus": 0.1, "mem": 16, "command": f"echo {i}"} for i in range(40)]
    # Fails on its first run only (it leaves a mark), so its retry succeeds.
    jobs += [
        {"name": f"flaky-{i}", "cpus": 0.1, "mem": 16,
         "command": f"test -e {marks}/{i} || {{ touch {marks}/{i}; exit 1; }}"}
        for i in range(5)
    ]  # fmt: skip
    jobs += [{"name": f"bad-{i}", "cpus": 0.1, "mem": 16, "command": "exit 7"} for i in range(5)]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs))

    out = subprocess.run(
        [sys.executable, str(PROCESSOR), "--master", cluster.address, "--reconcile-seconds", "2", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-5000:] + cluster.log()  # 1: some jobs FAILED
    report = {j["name"]: j for j in json.loads(out.stdout)["jobs"]}
    assert len(report) == 50
    for i in range(40):
        assert report[f"ok-{i}"] == {"name": f"ok-{i}", "state": "SUCCESSFUL", "attempts": 1}
    for i in range(5):
        assert report[f"flaky-{i}"] == {"name": f"flaky-{i}", "state": "SUCCESSFUL", "attempts": 2}
        assert report[f"bad-{i}"] == {"name": f"bad-{i}", "state": "FAILED", "attempts": 4}

    def books() -> bool:
        m = cluster.metrics()
        return (
            m["master/tasks_finished"] == 45
            and m["master/tasks_failed"] == 5 + 5 * 4
            and m["master/valid_status_update_acknowledgements"] == m["master/valid_status_updates"]
            and m["master/frameworks_active"] == 0
        )

    wait_for("the master's books: 45 finished, 25 failed, all acknowledged", books, log=cluster.log)


def test_survives_killing_the_leading_instance(cluster: Ratufa, tmp_path: Path) -> None:
    zk = ZooKeeper()
    try:
        jobs = [{"name": f"job-{i}", "cpus": 0.5, "mem": 32, "command": "sleep 0.5"} for i in range(50)]
        path = tmp_path / "jobs.json"
        path.write_text(json.dumps(jobs))
        url = zk.url("/job-processor")
        instances: Dict[str, "subprocess.Popen[str]"] = {}
        for name in ("a", "b"):
            instances[name] = subprocess.Popen(
                [sys.executable, str(PROCESSOR), "--master", cluster.address, "--zk", url,
                 "--name", name, "--reconcile-seconds", "2", str(path)],
                stdout=subprocess.PIPE, stderr=open(tmp_path / f"{name}.log", "w"), text=True,
            )  # fmt: skip
        logs = lambda: "\n".join((tmp_path / f"{n}.log").read_text()[-3000:] for n in instances)  # noqa: E731
        wait_for("10 jobs done", lambda: cluster.metrics()["master/tasks_finished"] >= 10, log=logs)

        client = KazooClient(hosts=f"127.0.0.1:{zk.port}")
        client.start(timeout=30)
        leader = client.Election("/job-processor/election").contenders()[0]
        client.stop()
        instances[leader].kill()
        instances[leader].wait(timeout=60)
        survivor = instances["b" if leader == "a" else "a"]
        out, _ = survivor.communicate(timeout=240)
        assert survivor.returncode == 0, logs() + cluster.log()
        survivor_name = "b" if leader == "a" else "a"
        assert "taking over framework" in (tmp_path / f"{survivor_name}.log").read_text(), logs()
        report = json.loads(out)["jobs"]
        assert [j["state"] for j in report] == ["SUCCESSFUL"] * 50, report

        state = cluster.get_json("/master/state")
        # One framework from start to end: the survivor took the leader's framework id over.
        assert state["frameworks"] == [] and len(state["completed_frameworks"]) == 1, state["completed_frameworks"]
        assert cluster.metrics()["master/tasks_finished"] >= 50
    finally:
        for p in locals().get("instances", {}).values():
            if p.poll() is None:
                p.kill()
        zk.stop()
