"""Protocol robustness against a scripted fake master: a corrupt RecordIO length and a
stream closed mid-record make the client re-subscribe with its framework id (never
hang, never crash); 307s (absolute and Mesos's scheme-less Location) are followed and
503s retried."""

from __future__ import annotations

import asyncio
import threading
from typing import Iterator, List

import pytest

from fake_master import Answer, FakeMaster, record, subscribed
from ratufa import AsyncScheduler, HTTPError, Scheduler

HEARTBEAT = record({"type": "HEARTBEAT"})


@pytest.fixture
def masters() -> Iterator[List[FakeMaster]]:
    made: List[FakeMaster] = []
    yield made
    for m in made:
        m.close()


def second_subscription(master: FakeMaster, broken_stream: bytes) -> FakeMaster:
    master.answers += [
        Answer(200, subscribed("fw-1") + HEARTBEAT + broken_stream),
        Answer(200, subscribed("fw-1") + HEARTBEAT, close=False),
    ]
    return master


def run_until_resubscribed(address: str) -> List[str]:
    """The framework ids of the first two SUBSCRIBED events a client sees."""
    ids: List[str] = []
    with Scheduler(address, {"name": "fake"}, backoff_max=0.2, reconnect_timeout=30) as sched:
        for event in sched.events():
            if event["type"] == "SUBSCRIBED":
                ids.append(event["subscribed"]["framework_id"]["value"])
            if len(ids) == 2:
                sched.stop()
    return ids


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(b"12x\n{}", id="corrupt length"),
        pytest.param(b"99999999999999\n", id="length over the limit"),
        pytest.param(b"300\n{\"type\": \"OFF", id="closed mid-record"),
        pytest.param(b"7\nnotjson", id="record not JSON"),
    ],
)
def test_broken_stream_resubscribes_with_the_framework_id(masters: List[FakeMaster], broken: bytes) -> None:
    master = second_subscription(FakeMaster([]), broken)
    masters.append(master)
    assert run_until_resubscribed(master.address) == ["fw-1", "fw-1"]
    first, second = master.subscribe_bodies()
    assert "framework_id" not in first and "id" not in first["subscribe"]["framework_info"]
    assert second["framework_id"] == {"value": "fw-1"}
    assert second["subscribe"]["framework_info"]["id"] == {"value": "fw-1"}


def test_async_client_resubscribes_after_a_corrupt_length(masters: List[FakeMaster]) -> None:
    master = second_subscription(FakeMaster([]), b"-5\n")
    masters.append(master)

    async def main() -> List[str]:
        ids: List[str] = []
        async with AsyncScheduler(master.address, {"name": "fake"}, backoff_max=0.2) as sched:
            async for event in sched.events():
                if event["type"] == "SUBSCRIBED":
                    ids.append(event["subscribed"]["framework_id"]["value"])
                if len(ids) == 2:
                    sched.stop()
        return ids

    assert asyncio.run(asyncio.wait_for(main(), 60)) == ["fw-1", "fw-1"]


@pytest.mark.parametrize("scheme_less", [False, True], ids=["absolute", "mesos-style //host"])
def test_follows_307_to_the_leader_and_retries_503(masters: List[FakeMaster], scheme_less: bool) -> None:
    leader = FakeMaster([Answer(503, b"No leader elected"), Answer(200, subscribed("fw-9"), close=False)])
    prefix = "//" if scheme_less else "http://"
    follower = FakeMaster([Answer(307, headers={"Location": f"{prefix}{leader.address}/api/v1/scheduler"})] * 3)
    masters += [leader, follower]
    with Scheduler(follower.address, {"name": "fake"}, backoff_max=0.2) as sched:
        event = next(iter_events := sched.events())
        assert event["type"] == "SUBSCRIBED"
        assert sched.leader == f"http://{leader.address}"
        assert sched.stream_id == "stream-2"
        sched.stop()
        iter_events.close()
    assert len(leader.subscribe_bodies()) == 2


def test_second_master_is_tried_when_the_first_is_unreachable(masters: List[FakeMaster]) -> None:
    up = FakeMaster([Answer(200, subscribed("fw-2"), close=False)])
    masters.append(up)
    with Scheduler(["127.0.0.1:1", up.address], {"name": "fake"}) as sched:
        events = sched.events()
        assert next(events)["subscribed"]["framework_id"] == {"value": "fw-2"}
        events.close()


def test_subscribe_4xx_is_raised_not_retried(masters: List[FakeMaster]) -> None:
    master = FakeMaster([Answer(400, b"Failed to validate scheduler::Call: Expecting 'subscribe'")])
    masters.append(master)
    with Scheduler(master.address, {"name": "fake"}) as sched:
        with pytest.raises(HTTPError) as caught:
            next(sched.events())
    assert caught.value.status == 400 and "Expecting 'subscribe'" in caught.value.body
    assert len(master.requests) == 1


def test_stop_while_no_master_answers_ends_the_events_quietly() -> None:
    with Scheduler("127.0.0.1:1", {"name": "fake"}, backoff_max=0.2) as sched:
        timer = threading.Timer(1.0, sched.stop)
        timer.start()
        assert list(sched.events()) == []
        timer.join()
