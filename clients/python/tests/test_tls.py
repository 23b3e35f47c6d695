"""TLS as Mesos configures it (LIBPROCESS_SSL_*): ratufa.tls reads the variables, and
against `ratufa local` serving https and requiring client certificates, a Scheduler
given that context launches tasks on examples/executor.py, which reaches its agent
over https by itself (it inherits the variables), so its tasks finish.

Certificates are made with the openssl command line; without it the tests skip."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

from cluster import HERE, Ratufa, wait_for
from ratufa import Scheduler, ValidationError, is_terminal
from ratufa.executor import ExecutorConfig
from ratufa.tasks import executor_info, executor_task
from ratufa.tls import context_from_env

EXECUTOR = f"{sys.executable} {HERE.parent / 'examples' / 'executor.py'}"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Dict[str, str]:
    """A CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make test certificates with")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA"]
    openssl("req", "-x509", *ec, *ca, cwd=tmp_path)
    openssl("req", *ec, "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=localhost", cwd=tmp_path)
    (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "cert.pem", "-days", "2", "-extfile", "san.cnf", cwd=tmp_path,
    )  # fmt: skip
    return {
        "LIBPROCESS_SSL_ENABLED": "true",
        "LIBPROCESS_SSL_CERT_FILE": str(tmp_path / "cert.pem"),
        "LIBPROCESS_SSL_KEY_FILE": str(tmp_path / "key.pem"),
        "LIBPROCESS_SSL_CA_FILE": str(tmp_path / "ca.pem"),
    }


def test_the_environment_is_read_as_ratufa_reads_it(pki: Dict[str, str], tmp_path: Path) -> None:
    assert context_from_env({}) is None
    assert context_from_env({"SSL_ENABLED": "0"}) is None
    context = context_from_env(pki)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    unverified = context_from_env({**pki, "SSL_VERIFY_CERT": "false"})
    assert unverified is not None and unverified.verify_mode == ssl.CERT_NONE
    # Required client certificates turn verification on, as in Mesos.
    required = context_from_env({**pki, "SSL_VERIFY_CERT": "false", "LIBPROCESS_SSL_REQUIRE_CERT": "1"})
    assert required is not None and required.verify_mode == ssl.CERT_REQUIRED
    # A CA directory's files are read whatever their names.
    ca_dir = tmp_path / "cas"
    ca_dir.mkdir()
    shutil.copy(pki["LIBPROCESS_SSL_CA_FILE"], ca_dir / "my-ca.pem")
    (ca_dir / "README").write_text("not a certificate")
    without_file = {k: v for k, v in pki.items() if k != "LIBPROCESS_SSL_CA_FILE"}
    assert context_from_env({**without_file, "LIBPROCESS_SSL_CA_DIR": str(ca_dir)}) is not None

    # An executor's agent on the loopback: the authority is checked, not the name.
    ids = {"MESOS_FRAMEWORK_ID": "f", "MESOS_EXECUTOR_ID": "e"}
    local = ExecutorConfig.from_env({**pki, **ids, "MESOS_AGENT_ENDPOINT": "127.0.0.1:5051"}).tls
    assert local is not None and not local.check_hostname and local.verify_mode == ssl.CERT_REQUIRED
    remote = ExecutorConfig.from_env({**pki, **ids, "MESOS_AGENT_ENDPOINT": "10.0.0.1:5051"}).tls
    assert remote is not None and remote.check_hostname
    assert ExecutorConfig.from_env({**ids, "MESOS_AGENT_ENDPOINT": "127.0.0.1:5051"}).tls is None

    for variable, value in [
        ("LIBPROCESS_SSL_ENABLED", "yes"),
        ("LIBPROCESS_SSL_CA_FILE", str(tmp_path / "missing.pem")),
        ("LIBPROCESS_SSL_CERT_FILE", str(tmp_path / "san.cnf")),
        ("LIBPROCESS_SSL_CA_DIR", str(tmp_path / "nowhere")),
    ]:
        with pytest.raises(ValidationError, match=variable):
            context_from_env({**pki, variable: value})


@pytest.fixture
def tls_cluster(pki: Dict[str, str]) -> Iterator[Ratufa]:
    env = {**pki, "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT": "true"}
    context = context_from_env(env)
    flags = ["--scheduler_heartbeat_interval=1secs", "--num_agents=1", "--resources=cpus:4;mem:2048"]
    cluster = Ratufa("local", flags, env=env, tls=context).start()
    try:
        wait_for("the agent registered", lambda: cluster.metrics().get("master/slaves_active") == 1, log=cluster.log)
        yield cluster
    finally:
        cluster.cleanup()


def test_a_scheduler_and_an_executor_speak_https(tls_cluster: Ratufa) -> None:
    cluster = tls_cluster
    assert cluster.url.startswith("https://")
    commands = {"ok": "true", "bad": "exit 3"}
    states: Dict[str, str] = {}
    with Scheduler(cluster.address, {"name": "py-tls"}, tls=cluster.tls) as sched:
        assert sched.leader is None or sched.leader.startswith("https://")
        launched = False
        for event in sched.events():
            if event["type"] == "OFFERS":
                offers = event["offers"]["offers"]
                if launched:
                    sched.decline(offers)
                    continue
                offer = offers[0]
                ex = executor_info("py-tls-executor", EXECUTOR, framework_id=sched.framework_id)
                data = {t: base64.b64encode(c.encode()).decode() for t, c in commands.items()}
                tasks = [executor_task(offer["agent_id"], ex, task_id=t, data=d) for t, d in data.items()]
                sched.launch([offer], tasks)
                launched = True
            elif event["type"] == "UPDATE":
                status = event["update"]["status"]
                states[status["task_id"]["value"]] = status["state"]
                if len(states) == len(commands) and all(is_terminal(s) for s in states.values()):
                    sched.teardown()
        assert sched.leader is not None and sched.leader.startswith("https://"), sched.leader
    assert states == {"ok": "TASK_FINISHED", "bad": "TASK_FAILED"}, cluster.log()
