"""A real standalone ZooKeeper for the HA tests, from Debian's server jar
(scripts/setup-zookeeper.sh installs it), on a free port, killed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from cluster import free_port, wait_for

JAR = "/usr/share/java/zookeeper.jar"


def require() -> None:
    """Skips (or fails under RATUFA_REQUIRE_CLIENTS=1) without java and the jar."""
    if os.path.isfile(JAR) and shutil.which("java"):
        return
    why = f"ZooKeeper is not installed ({JAR}, java): run scripts/setup-zookeeper.sh"
    if os.environ.get("RATUFA_REQUIRE_CLIENTS") == "1":
        pytest.fail(why)
    pytest.skip(why)


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"srvr")
            return b"Mode: " in s.recv(4096)
    except OSError:
        return False


class ZooKeeper:
    def __init__(self) -> None:
        require()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ratufa-py-zk-"))
        (self.dir / "data").mkdir()
        (self.dir / "zoo.cfg").write_text(
            "tickTime=200\ninitLimit=50\nsyncLimit=25\nminSessionTimeout=1000\n"
            f"maxSessionTimeout=60000\ndataDir={self.dir / 'data'}\nclientPortAddress=127.0.0.1\n"
            f"clientPort={self.port}\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat\n"
        )
        log = open(self.dir / "server.log", "wb")
        self.proc: Optional[subprocess.Popen[bytes]] = subprocess.Popen(
            ["java", "-Xmx128m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
             "-cp", JAR, "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.dir / "zoo.cfg")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for("ZooKeeper serving", lambda: _ruok(self.port), log=self.log)

    def url(self, path: str) -> str:
        return f"zk://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return (self.dir / "server.log").read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
