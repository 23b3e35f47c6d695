"""examples/jobs/job_processor.py (the book's chapter 4) runs a 50-job file to the end
on `ratufa local`: jobs packed many per offer, flaky jobs retried to success, failing
jobs FAILED after three retries, every update acknowledged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cluster import HERE, Ratufa, wait_for

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
