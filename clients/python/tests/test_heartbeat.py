"""Chapter 5 (examples/heartbeat): jobs on heartbeating custom executors; an executor
that stops heartbeating has its job killed and launched again, and every job ends
SUCCESSFUL. Skipped until the agent serves /api/v1/executor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cluster import HERE, Ratufa, wait_for
from test_executor import require_executor_api

SCHEDULER = HERE.parent / "examples" / "heartbeat" / "heartbeat_scheduler.py"


def test_a_silent_executors_job_is_relaunched(cluster: Ratufa, tmp_path: Path) -> None:
    require_executor_api(cluster)
    jobs = [
        {"name": "steady", "command": "sleep 3"},
        {"name": "hangs-once", "command": "sleep 3", "stall_attempts": 1},
    ]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs))
    out = subprocess.run(
        [sys.executable, str(SCHEDULER), "--master", cluster.address, "--interval", "1", "--missed", "5", str(path)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-5000:] + cluster.log()
    report = {j["name"]: j for j in json.loads(out.stdout)["jobs"]}
    assert report["steady"] == {"name": "steady", "state": "SUCCESSFUL", "attempts": 1, "missed_heartbeats": 0}
    assert report["hangs-once"] == {"name": "hangs-once", "state": "SUCCESSFUL", "attempts": 2, "missed_heartbeats": 1}
    # The hung attempt never reported its end; the two that did finished.
    wait_for("two tasks finished", lambda: cluster.metrics()["master/tasks_finished"] == 2, log=cluster.log)
