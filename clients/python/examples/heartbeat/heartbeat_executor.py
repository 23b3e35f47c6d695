"""Chapter 5's heartbeating executor, on ratufa.Executor.

Each task's ``data`` is JSON (base64): ``{"command": str, "interval": seconds,
"stall_after": beats or null}``. The executor reports TASK_RUNNING, runs the command,
and while it runs sends the framework message ``{"task_id": ..., "beat": n}`` every
``interval`` seconds; when the command ends it reports TASK_FINISHED or TASK_FAILED.
``stall_after`` injects a fault for demonstrations: after that many beats the
executor goes silent, as a hung executor would: no more beats, and no update when the
command ends.
KILL stops the command (TASK_KILLED); SHUTDOWN ends the executor.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
from typing import Any, Dict, Optional, Set

from ratufa import Executor

Json = Dict[str, Any]


def kill_tree(process: "subprocess.Popen[bytes]") -> None:
    """SIGKILL to the command and everything in its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass  # already gone


class Heartbeating:
    def __init__(self) -> None:
        self.processes: Dict[str, "subprocess.Popen[bytes]"] = {}
        self.killed: Set[str] = set()
        self.stalled: Set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def on_launch(self, executor: Executor, event: Json) -> None:
        task = event["launch"]["task"]
        task_id = task["task_id"]["value"]
        spec = json.loads(base64.b64decode(task.get("data", "")) or b"{}")
        # A session of its own: a kill reaches whatever the command forks.
        process = subprocess.Popen(["/bin/sh", "-c", spec.get("command", "true")], start_new_session=True)
        with self.lock:
            self.processes[task_id] = process
        executor.update(task_id, "TASK_RUNNING")
        beats = threading.Thread(
            target=self.beat,
            args=(executor, task_id, process, float(spec.get("interval", 1.0)), spec.get("stall_after")),
            daemon=True,
        )
        beats.start()
        threading.Thread(target=self.wait, args=(executor, task_id, process), daemon=True).start()

    def beat(
        self, executor: Executor, task_id: str, process: "subprocess.Popen[bytes]", interval: float, stall_after: Optional[int]
    ) -> None:
        n = 0
        while process.poll() is None and not self.stop.is_set():
            if stall_after is not None and n >= stall_after:
                with self.lock:
                    self.stalled.add(task_id)  # the injected fault: silent from now on
                return
            n += 1
            executor.message(json.dumps({"task_id": task_id, "beat": n}))  # best effort
            self.stop.wait(interval)

    def wait(self, executor: Executor, task_id: str, process: "subprocess.Popen[bytes]") -> None:
        code = process.wait()
        with self.lock:
            self.processes.pop(task_id, None)
            killed = task_id in self.killed
            if task_id in self.stalled:
                return
        if killed:
            executor.update(task_id, "TASK_KILLED")
        elif code == 0:
            executor.update(task_id, "TASK_FINISHED")
        else:
            executor.update(task_id, "TASK_FAILED", message=f"Command exited with status {code}")

    def on_kill(self, executor: Executor, event: Json) -> None:
        task_id = event["kill"]["task_id"]["value"]
        with self.lock:
            self.killed.add(task_id)
            process = self.processes.get(task_id)
        if process is not None:
            kill_tree(process)

    def on_shutdown(self, executor: Executor, event: Json) -> None:
        self.stop.set()
        with self.lock:
            for process in self.processes.values():
                kill_tree(process)


if __name__ == "__main__":
    runner = Heartbeating()
    try:
        with Executor() as executor:
            executor.run(runner)
    finally:
        # No task outlives its executor (an agent would destroy the container too).
        for process in list(runner.processes.values()):
            kill_tree(process)
