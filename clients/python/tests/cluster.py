"""Real ratufa processes for the tests: `ratufa local` or `ratufa master` children on
ports of their own, their logs, restarts on the same port, and the master's books."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent

#: How long a test waits for anything (generous: the machine may be busy).
PATIENCE = 60.0

T = TypeVar("T")


def ratufa_bin() -> str:
    """$RATUFA_BIN, else the repository's release or debug build; skips without one
    (fails when RATUFA_REQUIRE_CLIENTS=1, as scripts/test.sh sets)."""
    candidates = [os.environ.get("RATUFA_BIN", "")] + [
        str(REPO / "target" / profile / "ratufa") for profile in ("release", "debug")
    ]
    found = [c for c in candidates if c and os.access(c, os.X_OK)]
    if not found:
        why = "no ratufa binary: set RATUFA_BIN or run `cargo build --bin ratufa`"
        if os.environ.get("RATUFA_REQUIRE_CLIENTS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    # The newest build: a stale release binary must not shadow a fresh debug one.
    if os.environ.get("RATUFA_BIN"):
        return found[0]
    return max(found, key=lambda p: os.stat(p).st_mtime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Optional[T]], timeout: float = PATIENCE, log: Callable[[], str] = lambda: "") -> T:
    """Polls ``check`` until it returns something other than None/False."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # the condition may raise until it holds
            last = e
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen in {timeout}s (last: {last!r})\n{log()}")


def reap_under(directory: Path) -> None:
    """SIGKILL to every process whose working directory is inside ``directory``: the
    executors and tasks a test's agent started in sandboxes there live in sessions of
    their own (and a checkpointing framework's outlive their agent), so killing the
    agent's process group does not reach them."""
    root = str(directory.resolve())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


class Ratufa:
    """A `ratufa <subcommand>` child on 127.0.0.1:<port>, killed by :meth:`stop`; with
    ``env`` added to its environment, and spoken to over https with ``tls``."""

    def __init__(
        self,
        subcommand: str,
        flags: List[str],
        port: Optional[int] = None,
        env: Optional[Dict[str, str]] = None,
        tls: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.binary = ratufa_bin()
        self.env = env or {}
        self.tls = tls
        self.subcommand = subcommand
        self.flags = flags
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ratufa-py-test-"))
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def start(self) -> "Ratufa":
        self.starts += 1
        log = open(self.dir / f"log-{self.starts}.txt", "wb")
        self.proc = subprocess.Popen(
            [self.binary, self.subcommand, "--ip=127.0.0.1", f"--port={self.port}",
             f"--work_dir={self.dir / 'work'}", *self.flags],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **self.env},
        )  # fmt: skip
        log.close()
        wait_for(f"ratufa {self.subcommand} on {self.address}", self._healthy, log=self.log)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"ratufa exited with {self.proc.returncode}\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5, context=self.tls) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self, whole_group: bool = True) -> None:
        """SIGKILL to the process and, unless ``whole_group`` is False, to every
        process it started (tasks, executors) that stayed in its process group."""
        if self.proc is not None and self.proc.poll() is None:
            if whole_group:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
            self.proc.wait(timeout=PATIENCE)
        self.proc = None

    def restart(self, whole_group: bool = True) -> None:
        """Kills the process and starts it again on the same port and work dir (an
        agent restarted alone keeps its executors: ``whole_group=False``)."""
        self.stop(whole_group)
        self.start()

    def cleanup(self) -> None:
        self.stop()
        reap_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        out = []
        for path in sorted(self.dir.glob("log-*.txt")):
            out.append(f"--- {path.name} ---\n" + path.read_text(errors="replace")[-20000:])
        return "\n".join(out)

    def get_json(self, path: str) -> Dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10, context=self.tls) as r:
            data: Dict[str, Any] = json.loads(r.read())
            return data

    def metrics(self) -> Dict[str, float]:
        return {k: float(v) for k, v in self.get_json("/metrics/snapshot").items()}


def local(agents: int = 1, extra: Optional[List[str]] = None, port: Optional[int] = None) -> Ratufa:
    """`ratufa local` with ``agents`` agents of cpus:4;mem:2048 and a 1 s heartbeat,
    started and with every agent registered."""
    flags = [
        "--scheduler_heartbeat_interval=1secs",
        f"--num_agents={agents}",
        "--resources=cpus:4;mem:2048",
        *(extra or []),
    ]
    cluster = Ratufa("local", flags, port).start()
    try:
        wait_for(
            f"{agents} agents registered",
            lambda: cluster.metrics().get("master/slaves_active") == agents,
            log=cluster.log,
        )
    except BaseException:
        cluster.cleanup()
        raise
    return cluster


def settled(cluster: Ratufa, tasks: int) -> Dict[str, float]:
    """Waits until the master counts ``tasks`` finished tasks and as many valid
    acknowledgements as status updates; returns the metrics."""

    def check() -> Optional[Dict[str, float]]:
        m = cluster.metrics()
        done = m.get("master/tasks_finished") == tasks and m.get(
            "master/valid_status_update_acknowledgements"
        ) == m.get("master/valid_status_updates")
        return m if done else None

    return wait_for(f"{tasks} finished, acknowledged tasks", check, log=cluster.log)
