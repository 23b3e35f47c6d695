"""Two `ratufa master --zk` in front of a real ZooKeeper: the client follows a
follower's 307 to the leader, finds the leader through a zk:// URL, after the leader
is killed re-subscribes to the new one under its framework id, and while subscribed
through zk:// leaves a frozen leader as soon as ZooKeeper names another."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import signal
import socket
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, List, Tuple

import pytest

from cluster import Ratufa, free_port, wait_for
from ratufa import AsyncScheduler, Scheduler
from ratufa import zk as zk_module
from ratufa.errors import NoLeaderError
from ratufa.zk import ZkClient, shared_sessions
from zookeeper import ZooKeeper

ZK_PATH = "/ratufa-py"


def answers_state(master: Ratufa) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", master.port, timeout=5)
    try:
        conn.request("GET", "/master/state")
        return conn.getresponse().status
    finally:
        conn.close()


def leader_and_follower(masters: List[Ratufa]) -> Tuple[Ratufa, Ratufa]:
    def elected() -> Tuple[Ratufa, Ratufa] | None:
        codes = [answers_state(m) for m in masters]
        if sorted(codes) == [200, 307]:
            return (masters[codes.index(200)], masters[codes.index(307)])
        return None

    return wait_for("one leader, one follower", elected, log=lambda: "\n".join(m.log() for m in masters))


@contextmanager
def two_masters(heartbeat: str) -> Iterator[Tuple[ZooKeeper, List[Ratufa]]]:
    zk = ZooKeeper()
    masters: List[Ratufa] = []
    try:
        for _ in range(2):
            flags = [f"--zk={zk.url(ZK_PATH)}", "--zk_session_timeout=4secs",
                     f"--scheduler_heartbeat_interval={heartbeat}", "--hostname=127.0.0.1"]  # fmt: skip
            masters.append(Ratufa("master", flags).start())
        yield zk, masters
    finally:
        for m in masters:
            if m.proc is not None and m.proc.poll() is None:
                os.kill(m.proc.pid, signal.SIGCONT)  # a frozen one cannot die until it runs
            m.cleanup()
        zk.stop()


@pytest.fixture
def ha() -> Iterator[Tuple[ZooKeeper, List[Ratufa]]]:
    with two_masters("1secs") as cluster:
        yield cluster


@pytest.fixture
def ha_slow_heartbeats() -> Iterator[Tuple[ZooKeeper, List[Ratufa]]]:
    # Heartbeats every 5 minutes: the client's watchdog (× missed_heartbeats) cannot be
    # what moves it off a frozen leader within the test.
    with two_masters("300secs") as cluster:
        yield cluster


def test_follows_the_followers_redirect_to_the_leader(ha: Tuple[ZooKeeper, List[Ratufa]]) -> None:
    _, masters = ha
    leader, follower = leader_and_follower(masters)
    with Scheduler(follower.address, {"name": "py-redirect"}) as sched:
        events = sched.events()
        assert next(events)["type"] == "SUBSCRIBED"
        assert sched.leader == leader.url
        sched.suppress()  # a call goes to the leader too (202, not a 307 loop)
        sched.teardown()


def test_zk_url_finds_the_leader(ha: Tuple[ZooKeeper, List[Ratufa]]) -> None:
    zk, masters = ha
    leader, _ = leader_and_follower(masters)
    with Scheduler(zk.url(ZK_PATH), {"name": "py-zk"}) as sched:
        events = sched.events()
        assert next(events)["type"] == "SUBSCRIBED"
        assert sched.leader == leader.url
        sched.teardown()


def subscriptions_across(sched: Scheduler, fail: Callable[[], None]) -> Tuple[List[str], List[str]]:
    """Streams until the second SUBSCRIBED, calling `fail` at the first; the
    framework id and the leader of each subscription, in order."""
    ids: List[str] = []
    leaders: List[str] = []
    for event in sched.events():
        if event["type"] == "SUBSCRIBED":
            ids.append(event["subscribed"]["framework_id"]["value"])
            leaders.append(sched.leader or "")
            if len(ids) == 1:
                fail()
            else:
                sched.teardown()
    sched.close()
    return ids, leaders


def test_resubscribes_to_the_new_leader_after_failover(ha: Tuple[ZooKeeper, List[Ratufa]]) -> None:
    _, masters = ha
    leader, follower = leader_and_follower(masters)
    sched = Scheduler(
        [leader.address, follower.address],
        {"name": "py-failover", "failover_timeout": 3600},
        backoff_max=1,
    )
    ids, leaders = subscriptions_across(sched, lambda: threading.Thread(target=leader.stop).start())
    assert ids[0] == ids[1], ids
    assert leaders == [leader.url, follower.url]


def freeze(master: Ratufa) -> None:
    """SIGSTOP: the process stops, its TCP connections stay open, its ZooKeeper
    session expires and the other master is elected."""
    assert master.proc is not None
    os.kill(master.proc.pid, signal.SIGSTOP)


def test_leaves_a_frozen_leader_when_zookeeper_names_another(
    ha_slow_heartbeats: Tuple[ZooKeeper, List[Ratufa]],
) -> None:
    zk, masters = ha_slow_heartbeats
    leader, follower = leader_and_follower(masters)
    sched = Scheduler(zk.url(ZK_PATH), {"name": "py-follow", "failover_timeout": 3600}, backoff_max=1)
    ids, leaders = subscriptions_across(sched, lambda: freeze(leader))
    assert ids[0] == ids[1], ids
    assert leaders == [leader.url, follower.url]
    # Moved by ZooKeeper's word, not by the stream dying or its heartbeat watchdog.
    assert "names a new leader" in (sched.reconnect_reason or ""), sched.reconnect_reason


def test_async_client_leaves_a_frozen_leader_when_zookeeper_names_another(
    ha_slow_heartbeats: Tuple[ZooKeeper, List[Ratufa]],
) -> None:
    zk, masters = ha_slow_heartbeats
    leader, follower = leader_and_follower(masters)

    async def follow() -> Tuple[List[str], List[str], str]:
        ids: List[str] = []
        leaders: List[str] = []
        info = {"name": "py-follow-async", "failover_timeout": 3600}
        async with AsyncScheduler(zk.url(ZK_PATH), info, backoff_max=1) as sched:
            async for event in sched.events():
                if event["type"] == "SUBSCRIBED":
                    ids.append(event["subscribed"]["framework_id"]["value"])
                    leaders.append(sched.leader or "")
                    if len(ids) == 1:
                        freeze(leader)
                    else:
                        await sched.teardown()
            return ids, leaders, sched.reconnect_reason or ""

    ids, leaders, reason = asyncio.run(follow())
    assert ids[0] == ids[1], ids
    assert leaders == [leader.url, follower.url]
    assert "names a new leader" in reason, reason


def zk_connections(zk: ZooKeeper) -> int:
    """The client connections the ZooKeeper server holds (its ``srvr`` word): one
    per session, plus the one asking."""
    with socket.create_connection(("127.0.0.1", zk.port), timeout=5) as s:
        s.sendall(b"srvr")
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    found = re.search(rb"Connections: (\d+)", out)
    assert found is not None, out
    return int(found.group(1))


def test_one_zookeeper_session_per_process_for_detection_and_every_stream(
    ha: Tuple[ZooKeeper, List[Ratufa]],
) -> None:
    zk, masters = ha
    leader_and_follower(masters)
    before = zk_connections(zk)  # the masters' own sessions

    async def two_streams() -> Tuple[int, int]:
        url = zk.url(ZK_PATH)
        async with AsyncScheduler(url, {"name": "py-zk-a"}, backoff_max=1) as a:
            async with AsyncScheduler(url, {"name": "py-zk-b"}, backoff_max=1) as b:
                events_a, events_b = a.events(), b.events()
                # Each stream open (and watching the leader) once SUBSCRIBED arrives.
                assert (await events_a.__anext__())["type"] == "SUBSCRIBED"
                assert (await events_b.__anext__())["type"] == "SUBSCRIBED"
                during = await asyncio.to_thread(zk_connections, zk)
                sessions = shared_sessions()
                await a.teardown()
                await b.teardown()
                await events_a.aclose()
                await events_b.aclose()
        return during, sessions

    during, sessions = asyncio.run(two_streams())
    # Two schedulers, each with a detection and a leader watch: one session.
    assert sessions == 1
    assert during == before + 1, (before, during)
    # Closed with its last user.
    assert shared_sessions() == 0
    wait_for("the session closed", lambda: zk_connections(zk) == before, log=zk.log)


def test_a_live_ensembles_users_do_not_wait_for_a_connect_to_an_unreachable_one() -> None:
    zk = ZooKeeper()
    # Nothing listens on a port that was just free: kazoo retries until its timeout.
    dead = f"zk://127.0.0.1:{free_port()}{ZK_PATH}"
    dead_key = (zk_module.parse_zk_url(dead)[0], None)
    # Each user's error, by the order they came in (the first one connects).
    errors: List[BaseException | None] = [None, None]

    def connect_dead(i: int) -> None:
        try:
            ZkClient(dead, timeout=30).release()
        except NoLeaderError as e:
            errors[i] = e

    def connecting() -> bool:
        with zk_module._shared_lock:
            entry = zk_module._shared.get(dead_key)
            return entry is not None and entry.client is None and entry.users == len(threads)

    threads: List[threading.Thread] = []
    try:
        for i in range(2):
            threads.append(threading.Thread(target=connect_dead, args=(i,), daemon=True))
            threads[-1].start()
            # The first connect under way (and the second user waiting on it).
            wait_for("a connect to the unreachable ensemble under way", connecting)
        live = ZkClient(zk.url(ZK_PATH), timeout=30)
        try:
            # Had the connect above held the process-wide lock, this user would have
            # waited out its 30 s timeout, and the threads would be done by now.
            assert all(t.is_alive() for t in threads)
            assert live.client.connected
            assert live.client.get_children("/") is not None
            assert shared_sessions() == 1
        finally:
            live.release()
        for t in threads:
            t.join(timeout=120)
        # Both users of the unreachable ensemble failed of one connect attempt: the
        # one who waited got the first one's error as its cause.
        assert errors[0] is not None and errors[1] is not None, errors
        assert errors[1].__cause__ is errors[0], errors
        assert shared_sessions() == 0
        assert not zk_module._shared
    finally:
        zk.stop()
