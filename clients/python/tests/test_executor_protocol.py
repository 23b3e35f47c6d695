"""The executor client against a scripted fake agent: after the connection breaks, a
checkpointing executor subscribes again carrying its unacknowledged task and the
update it sent (same uuid); without checkpointing it ends."""

from __future__ import annotations

import base64
from typing import Any, Dict, List

import pytest

from fake_master import Answer, FakeMaster, record
from ratufa import AgentError, Executor, StreamClosed
from ratufa.executor import ExecutorConfig

Json = Dict[str, Any]
TASK = {"name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"}}
SUBSCRIBED = record({"type": "SUBSCRIBED", "subscribed": {"executor_info": {}, "framework_info": {}}})
LAUNCH = record({"type": "LAUNCH", "launch": {"task": TASK}})


def config(agent: FakeMaster, checkpoint: bool) -> ExecutorConfig:
    return ExecutorConfig(agent.address, "fw-1", "ex-1", checkpoint=checkpoint, recovery_timeout=30, backoff_max=0.1)


def acknowledge_last_update(agent: FakeMaster) -> bytes:
    """SUBSCRIBED, then ACKNOWLEDGED for the last UPDATE the fake received."""
    status = [body for _, body in agent.requests if body["type"] == "UPDATE"][-1]["update"]["status"]
    ack = {"type": "ACKNOWLEDGED", "acknowledged": {"task_id": status["task_id"], "uuid": status["uuid"]}}
    return SUBSCRIBED + record(ack)


def test_resubscribes_with_unacknowledged_tasks_and_updates() -> None:
    agent = FakeMaster(
        [Answer(200, SUBSCRIBED + LAUNCH), Answer(202), Answer(200, acknowledge_last_update, close=False)]
    )
    try:
        sent: List[str] = []
        with Executor(config(agent, checkpoint=True)) as executor:
            for event in executor.events():
                if event["type"] == "LAUNCH":
                    sent.append(executor.update("t1", "TASK_RUNNING", message="up"))
                if event["type"] == "ACKNOWLEDGED":
                    executor.stop()
            # The agent acknowledged the update: nothing is left to resend.
            assert executor.unacknowledged_updates == [] and executor.unacknowledged_tasks == []
        first, update, second = (body for _, body in agent.requests)
        assert first["type"] == "SUBSCRIBE" and first["subscribe"] == {}
        assert first["framework_id"] == {"value": "fw-1"} and first["executor_id"] == {"value": "ex-1"}
        status = update["update"]["status"]
        assert status["source"] == "SOURCE_EXECUTOR" and status["executor_id"] == {"value": "ex-1"}
        assert len(base64.b64decode(status["uuid"])) == 16 and status["uuid"] == sent[0]
        assert second["subscribe"]["unacknowledged_tasks"] == [TASK]
        assert second["subscribe"]["unacknowledged_updates"] == [update["update"]]
    finally:
        agent.close()


def test_without_checkpointing_a_lost_agent_ends_the_executor() -> None:
    agent = FakeMaster([Answer(200, SUBSCRIBED)])
    try:
        with Executor(config(agent, checkpoint=False)) as executor:
            with pytest.raises(StreamClosed, match="checkpoint"):
                for _ in executor.events():
                    pass
    finally:
        agent.close()


def test_an_error_event_raises_agent_error() -> None:
    error = record({"type": "ERROR", "error": {"message": "Executor is not subscribed"}})
    agent = FakeMaster([Answer(200, SUBSCRIBED + error, close=False)])
    try:
        with Executor(config(agent, checkpoint=True)) as executor:
            with pytest.raises(AgentError, match="not subscribed"):
                for _ in executor.events():
                    pass
    finally:
        agent.close()


def test_launch_group_tasks_are_resent_until_acknowledged() -> None:
    tasks = [dict(TASK, task_id={"value": f"g{i}"}, name=f"g{i}") for i in range(2)]
    group = record({"type": "LAUNCH_GROUP", "launch_group": {"task_group": {"tasks": tasks}}})
    agent = FakeMaster([Answer(200, SUBSCRIBED + group), Answer(200, SUBSCRIBED, close=False)])
    try:
        with Executor(config(agent, checkpoint=True)) as executor:
            for event in executor.events():
                if event["type"] == "SUBSCRIBED" and executor.subscriptions == 2:
                    executor.stop()
        second = agent.subscribe_bodies()[1]
        assert second["subscribe"]["unacknowledged_tasks"] == tasks
        assert "unacknowledged_updates" not in second["subscribe"]
    finally:
        agent.close()
