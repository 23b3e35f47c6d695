"""Calls built and checked before sending; addresses, redirects and ZooKeeper parsing."""

from __future__ import annotations

import base64
import uuid

import pytest

from ratufa import FrameworkInfo, ValidationError, calls
from ratufa._session import Masters, redirect_target
from ratufa.executor import ExecutorConfig, parse_duration
from ratufa.framework import framework_json
from ratufa.zk import leader_node, master_address, parse_zk_url

UUID = base64.b64encode(uuid.uuid4().bytes).decode()


def test_framework_info() -> None:
    info = FrameworkInfo("jobs", roles=["ads"], failover_timeout=60, checkpoint=True).to_json()
    assert info["roles"] == ["ads"] and {"type": "MULTI_ROLE"} in info["capabilities"]
    assert info["failover_timeout"] == 60 and info["user"]
    with pytest.raises(ValidationError, match="name"):
        framework_json({"name": ""})
    with pytest.raises(ValidationError, match="failover_timeout"):
        framework_json({"name": "x", "failover_timeout": "soon"})
    with pytest.raises(ValidationError, match=r"roles\[1\]"):
        framework_json({"name": "x", "roles": ["a", "-b"]})


def test_calls_take_ids_strings_or_whole_offers() -> None:
    offer = {"id": {"value": "o1"}, "agent_id": {"value": "a"}}
    call = calls.decline("fw", [offer, "o2"], refuse_seconds=3)
    assert call == {
        "type": "DECLINE", "framework_id": {"value": "fw"},
        "decline": {"offer_ids": [{"value": "o1"}, {"value": "o2"}], "filters": {"refuse_seconds": 3.0}},
    }  # fmt: skip
    assert calls.reconcile("fw") == {"type": "RECONCILE", "framework_id": {"value": "fw"}, "reconcile": {}}
    assert calls.reconcile("fw", ["t1", ("t2", "a2")])["reconcile"]["tasks"] == [
        {"task_id": {"value": "t1"}},
        {"task_id": {"value": "t2"}, "agent_id": {"value": "a2"}},
    ]
    assert calls.message("fw", "a", "e", b"\x00hi")["message"]["data"] == "AGhp"
    assert calls.kill("fw", "t", grace_period_seconds=1.5)["kill"]["kill_policy"] == {
        "grace_period": {"nanoseconds": 1500000000}
    }
    sub = calls.subscribe({"name": "x", "user": "u", "id": {"value": "fw"}})
    assert sub["framework_id"] == {"value": "fw"}


def test_calls_refuse_bad_input_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="offer_ids"):
        calls.decline("fw", [])
    with pytest.raises(ValidationError, match="uuid"):
        calls.acknowledge("fw", "a", "t", "bm90IGEgdXVpZA==")
    with pytest.raises(ValidationError, match="task_id"):
        calls.kill("fw", "")
    with pytest.raises(ValidationError, match=r"tasks\[0\].agent_id"):
        calls.accept("fw", ["o"], [calls.launch_operation([{"name": "t", "task_id": {"value": "t"}}])])
    with pytest.raises(ValidationError, match="operations"):
        calls.accept("fw", ["o"], [{"launch": {}}])
    assert calls.acknowledge("fw", "a", "t", UUID)["acknowledge"]["uuid"] == UUID
    assert calls.acknowledge_status("fw", {"task_id": {"value": "t"}}) is None


def test_masters_and_redirects() -> None:
    assert Masters.parse("h1:5050,h2:5050").urls == ["http://h1:5050", "http://h2:5050"]
    assert Masters.parse(["https://m:5050/"]).urls == ["https://m:5050"]
    # With TLS, bare addresses are https; an explicit scheme still says which.
    assert Masters.parse("h1:5050,http://h2:5050", "https").urls == ["https://h1:5050", "http://h2:5050"]
    assert Masters.parse("zk://z1:2181/mesos", "https").scheme == "https"
    assert Masters.parse("zk://z1:2181,z2:2181/mesos").zk == "zk://z1:2181,z2:2181/mesos"
    assert redirect_target("http://a:1", "//b:2/api/v1/scheduler") == "http://b:2"
    assert redirect_target("http://a:1", "http://c:3/master/api/v1/scheduler") == "http://c:3"
    with pytest.raises(ValidationError):
        redirect_target("http://a:1", None)


def test_zookeeper_parsing() -> None:
    assert parse_zk_url("zk://u:p@z1:2181,z2:2181/mesos") == ("z1:2181,z2:2181", "/mesos", "u:p")
    assert leader_node(["json.info_0000000012", "json.info_0000000003", "lock"]) == "json.info_0000000003"
    assert leader_node([]) is None
    info = {"hostname": "m1", "port": 5050, "address": {"ip": "10.0.0.1", "port": 5051}}
    assert master_address(info) == "http://10.0.0.1:5051"
    assert master_address(info, "https") == "https://10.0.0.1:5051"
    with pytest.raises(ValidationError):
        parse_zk_url("zk://z1:2181")


def test_executor_environment() -> None:
    env = {
        "MESOS_AGENT_ENDPOINT": "127.0.0.1:5051", "MESOS_FRAMEWORK_ID": "fw",
        "MESOS_EXECUTOR_ID": "ex", "MESOS_CHECKPOINT": "1",
        "MESOS_RECOVERY_TIMEOUT": "2mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "500ms",
    }  # fmt: skip
    config = ExecutorConfig.from_env(env)
    assert config.checkpoint and config.recovery_timeout == 120 and config.backoff_max == 0.5
    with pytest.raises(ValidationError, match="MESOS_EXECUTOR_ID"):
        ExecutorConfig.from_env({"MESOS_AGENT_ENDPOINT": "x", "MESOS_FRAMEWORK_ID": "y"})
    with pytest.raises(ValidationError, match="MESOS_RECOVERY_TIMEOUT"):
        parse_duration("soon", "MESOS_RECOVERY_TIMEOUT")
