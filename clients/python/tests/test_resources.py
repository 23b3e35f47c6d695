from __future__ import annotations

from typing import Any, Dict, List

import pytest

from ratufa import Resources, ValidationError, first_fit, pick_ports
from ratufa.tasks import command_task, executor_info, items, ranges, scalar

Json = Dict[str, Any]


def offer(oid: str, *resources: Json) -> Json:
    return {"id": {"value": oid}, "agent_id": {"value": "a-" + oid}, "resources": list(resources)}


def test_scalars_add_and_subtract_by_reservation() -> None:
    r = Resources([scalar("cpus", 1), scalar("cpus", 2, role="ads"), scalar("mem", 512)])
    assert r.scalar("cpus") == 3
    assert r.filter(role="ads").scalar("cpus") == 2
    assert r.filter(reserved=False).scalar("cpus") == 1
    left = r - Resources([scalar("cpus", 0.5, role="ads")])
    assert left.filter(role="ads").scalar("cpus") == 1.5
    assert left.filter(role="*").scalar("cpus") == 1
    # Subtraction never goes below zero, and a pool of another role is untouched.
    assert (r - Resources([scalar("mem", 1024)])).scalar("mem") == 0
    assert (r + r).scalar("cpus") == 6


def test_fixed_point_like_mesos() -> None:
    r = Resources([scalar("cpus", 0.1)]) + Resources([scalar("cpus", 0.2)])
    assert r.scalar("cpus") == 0.3
    assert r.contains(Resources([scalar("cpus", 0.3)]))


def test_ranges_and_sets() -> None:
    r = Resources([ranges("ports", [(31000, 31005), (31006, 31010)]), items("disks", ["a", "b"])])
    assert r.ranges("ports") == [(31000, 31010)]
    left = r - Resources([ranges("ports", [(31003, 31004)]), items("disks", ["a"])])
    assert left.ranges("ports") == [(31000, 31002), (31005, 31010)]
    assert left.items("disks") == {"b"}
    assert r.contains(Resources([ranges("ports", [(31002, 31008)])]))
    assert not left.contains(Resources([ranges("ports", [(31002, 31008)])]))
    assert left.to_json()[0]["ranges"]["range"] == [{"begin": 31000, "end": 31002}, {"begin": 31005, "end": 31010}]


def test_contains_respects_reservations() -> None:
    offered = Resources([scalar("cpus", 4, role="ads")])
    assert not offered.contains(Resources([scalar("cpus", 1)]))
    assert offered.contains(Resources([scalar("cpus", 1, role="ads")]))
    assert Resources.scalars(cpus=1, mem=2) == Resources([scalar("mem", 2), scalar("cpus", 1)])


def test_take_prefers_reserved_pools_and_keeps_their_reservation() -> None:
    r = Resources([scalar("cpus", 1), scalar("cpus", 0.5, role="ads"), scalar("mem", 100)])
    taken = r.take(cpus=1, mem=50)
    assert taken is not None
    assert taken.filter(role="ads").scalar("cpus") == 0.5
    assert taken.filter(role="*").scalar("cpus") == 0.5
    assert r.take(cpus=2) is None


def test_pick_ports() -> None:
    o = offer("1", ranges("ports", [(31000, 31001), (32000, 32005)]))
    ports, resources = pick_ports(o, 3)
    assert ports == [31000, 31001, 32000]
    assert Resources(resources).ranges("ports") == [(31000, 31001), (32000, 32000)]
    with pytest.raises(ValidationError, match="8 ports"):
        pick_ports(o, 9)


def test_first_fit_packs_many_jobs_per_offer_in_order() -> None:
    offers = [offer("1", scalar("cpus", 1), scalar("mem", 256)), offer("2", scalar("cpus", 2), scalar("mem", 1024))]
    jobs: List[Json] = [{"n": i, "cpus": 0.5, "mem": 128} for i in range(6)] + [{"n": 99, "cpus": 8, "mem": 1}]
    placements, unplaced = first_fit(jobs, offers)
    assert [[j["n"] for j, _ in p.jobs] for p in placements] == [[0, 1], [2, 3, 4, 5]]
    assert [j["n"] for j in unplaced] == [99]
    assert placements[1].agent_id == {"value": "a-2"}
    assert all(taken.scalar("cpus") == 0.5 for _, taken in placements[0].jobs)


def test_builders() -> None:
    task = command_task("agent-1", ["/bin/echo", "hi"], cpus=0.5, mem=64, task_id="t", env={"A": "1"})
    assert task["task_id"] == {"value": "t"} and task["agent_id"] == {"value": "agent-1"}
    assert task["command"] == {
        "shell": False, "value": "/bin/echo", "arguments": ["/bin/echo", "hi"],
        "environment": {"variables": [{"name": "A", "value": "1"}]},
    }  # fmt: skip
    assert Resources(task["resources"]) == Resources.scalars(cpus=0.5, mem=64)
    ex = executor_info("ex-1", "python3 executor.py")
    assert ex["type"] == "CUSTOM" and ex["command"]["shell"] is True
    with pytest.raises(ValidationError):
        command_task("a", "")
    with pytest.raises(ValidationError):
        Resources([{"type": "SCALAR"}])
