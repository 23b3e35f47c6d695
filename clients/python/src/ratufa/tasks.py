"""Builders for TaskInfo, ExecutorInfo and Resource JSON; first-fit packing of jobs
into offers; picking ports from an offer's ranges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ._json import IdLike, Json, id_message
from .errors import ValidationError
from .resources import Range, Resources, role_of


def _reservation(resource: Json, role: Optional[str]) -> Json:
    if role is not None and role != "*":
        resource["reservations"] = [{"type": "STATIC", "role": role}]
    return resource


def scalar(name: str, value: float, role: Optional[str] = None) -> Json:
    """A scalar Resource (``cpus``, ``mem``, ``disk``, ``gpus``)."""
    return _reservation({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}}, role)


def ranges(name: str, spans: Iterable[Range], role: Optional[str] = None) -> Json:
    """A ranges Resource, e.g. ``ranges("ports", [(31000, 31009)])``."""
    body = {"range": [{"begin": b, "end": e} for b, e in spans]}
    return _reservation({"name": name, "type": "RANGES", "ranges": body}, role)


def items(name: str, values: Iterable[str], role: Optional[str] = None) -> Json:
    """A set Resource."""
    return _reservation({"name": name, "type": "SET", "set": {"item": sorted(values)}}, role)


def _resources(
    cpus: float, mem: float, disk: Optional[float], extra: Optional[Sequence[Json]]
) -> List[Json]:
    if cpus < 0 or mem < 0 or (disk is not None and disk < 0):
        raise ValidationError("cpus, mem and disk must not be negative")
    out = [scalar("cpus", cpus), scalar("mem", mem)]
    if disk:
        out.append(scalar("disk", disk))
    return out + list(extra or [])


def command_info(
    command: Union[str, Sequence[str]],
    env: Optional[Mapping[str, str]] = None,
    uris: Sequence[Union[str, Json]] = (),
) -> Json:
    """A CommandInfo: a shell command (a string) or an argv run without a shell (a list)."""
    info: Json
    if isinstance(command, str):
        if not command:
            raise ValidationError("command must not be empty")
        info = {"shell": True, "value": command}
    else:
        if not command:
            raise ValidationError("command must not be an empty argv")
        info = {"shell": False, "value": command[0], "arguments": list(command)}
    if env:
        info["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
    if uris:
        info["uris"] = [{"value": u} if isinstance(u, str) else u for u in uris]
    return info


def command_task(
    agent_id: IdLike,
    command: Union[str, Sequence[str]],
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    disk: Optional[float] = None,
    resources: Optional[Sequence[Json]] = None,
    task_id: Optional[str] = None,
    name: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    uris: Sequence[Union[str, Json]] = (),
    labels: Optional[Mapping[str, str]] = None,
) -> Json:
    """A TaskInfo that runs ``command`` with the agent's command executor.

    ``resources``, when given, replaces cpus/mem/disk (e.g. what
    :meth:`Resources.take` cut from an offer, reservations included). The task id is
    a fresh uuid unless given; ``agent_id`` is the offer's ``agent_id``."""
    tid = task_id or str(uuid.uuid4())
    task: Json = {
        "name": name or tid,
        "task_id": {"value": tid},
        "agent_id": id_message(agent_id, "agent_id"),
        "resources": list(resources) if resources is not None else _resources(cpus, mem, disk, None),
        "command": command_info(command, env, uris),
    }
    if labels:
        task["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    return task


def executor_info(
    executor_id: str,
    command: Union[str, Sequence[str]],
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    framework_id: Optional[IdLike] = None,
    name: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    uris: Sequence[Union[str, Json]] = (),
) -> Json:
    """An ExecutorInfo (type CUSTOM) for a custom executor such as one built on
    :class:`ratufa.Executor`."""
    info: Json = {
        "type": "CUSTOM",
        "executor_id": id_message(executor_id, "executor_id"),
        "name": name or executor_id,
        "command": command_info(command, env, uris),
        "resources": _resources(cpus, mem, None, None),
    }
    if framework_id is not None:
        info["framework_id"] = id_message(framework_id, "framework_id")
    return info


def executor_task(
    agent_id: IdLike,
    executor: Json,
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    task_id: Optional[str] = None,
    name: Optional[str] = None,
    data: Optional[str] = None,
) -> Json:
    """A TaskInfo run by a custom ``executor`` (an :func:`executor_info`); ``data``
    (base64 text) reaches the executor in LAUNCH."""
    tid = task_id or str(uuid.uuid4())
    task: Json = {
        "name": name or tid,
        "task_id": {"value": tid},
        "agent_id": id_message(agent_id, "agent_id"),
        "resources": _resources(cpus, mem, None, None),
        "executor": executor,
    }
    if data is not None:
        task["data"] = data
    return task


def pick_ports(offer: Union[Mapping[str, Any], Resources], count: int) -> Tuple[List[int], List[Json]]:
    """``count`` ports from the offer's ``ports`` ranges, lowest first, and the
    Resource JSON naming them (one per reservation they come from) for the task.
    ValidationError if the offer has fewer."""
    if count < 0:
        raise ValidationError("count must not be negative")
    res = offer if isinstance(offer, Resources) else Resources.of_offer(offer)
    picked: List[int] = []
    by_role: Dict[str, List[int]] = {}
    for resource in res:
        if resource["name"] != "ports" or resource["type"] != "RANGES":
            continue
        for r in resource["ranges"]["range"]:
            for port in range(int(r["begin"]), int(r["end"]) + 1):
                if len(picked) == count:
                    break
                picked.append(port)
                by_role.setdefault(role_of(resource), []).append(port)
    if len(picked) < count:
        raise ValidationError(f"the offer has {len(picked)} ports, {count} wanted")
    out = []
    for role, ports in by_role.items():
        out.append(ranges("ports", [(p, p) for p in ports], None if role == "*" else role))
    return picked, out


J = TypeVar("J")


@dataclass
class Placement(Generic[J]):
    """Jobs placed on one offer, each with the resources cut for it."""

    offer: Json
    jobs: List[Tuple[J, Resources]] = field(default_factory=list)

    @property
    def agent_id(self) -> Json:
        return dict(self.offer["agent_id"])


def _default_demand(job: Any) -> Mapping[str, float]:
    return {k: float(job[k]) for k in ("cpus", "mem", "disk") if k in job}


def first_fit(
    jobs: Sequence[J],
    offers: Sequence[Mapping[str, Any]],
    demand: Callable[[J], Mapping[str, float]] = _default_demand,
) -> Tuple[List[Placement[J]], List[J]]:
    """Places each job, in order, on the first offer that still has room for it
    (several jobs per offer). ``demand(job)`` gives its scalars, by default the job's
    ``cpus``, ``mem`` and ``disk`` keys. Returns the placements that hold at least
    one job, and the jobs that fit nowhere."""
    left = [Resources.of_offer(o) for o in offers]
    placements: List[Placement[J]] = [Placement(dict(o)) for o in offers]
    unplaced: List[J] = []
    for job in jobs:
        need = demand(job)
        for i, pool in enumerate(left):
            taken = pool.take(**need)
            if taken is not None:
                left[i] = pool - taken
                placements[i].jobs.append((job, taken))
                break
        else:
            unplaced.append(job)
    return [p for p in placements if p.jobs], unplaced


#: The task states after which a task never changes again.
TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)


def is_terminal(state: str) -> bool:
    """Whether a task in ``state`` is done for good."""
    return state in TERMINAL_STATES
