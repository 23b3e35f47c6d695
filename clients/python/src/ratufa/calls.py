"""The scheduler API's calls as JSON bodies, checked before they are sent.

Each function returns the whole ``mesos.v1.scheduler.Call`` for one call type; the
clients' methods of the same names send them. Ids may be given as strings or as
``{"value": ...}`` dicts; offer ids also as whole offers (their ``id`` is taken).
"""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ._json import IdLike, Json, encode_bytes, id_message, uuid_field
from .errors import ValidationError
from .framework import check_role

#: An offer id, or an offer (whose ``id`` is used).
OfferLike = Union[str, Mapping[str, Any]]


def _offer_ids(offers: Iterable[OfferLike], field: str) -> List[Json]:
    if isinstance(offers, (str, Mapping)):
        offers = [offers]
    ids = []
    for i, offer in enumerate(offers):
        if isinstance(offer, Mapping) and "id" in offer:
            offer = offer["id"]
        ids.append(id_message(offer, f"{field}[{i}]"))
    if not ids:
        raise ValidationError(f"{field} must name at least one offer")
    return ids


def _filters(refuse_seconds: Optional[float]) -> Json:
    if refuse_seconds is None:
        return {}
    if isinstance(refuse_seconds, bool) or not isinstance(refuse_seconds, (int, float)):
        raise ValidationError(f"refuse_seconds must be a number, not {refuse_seconds!r}")
    return {"filters": {"refuse_seconds": float(refuse_seconds)}}


def _roles(roles: Optional[Sequence[str]], field: str) -> Json:
    if roles is None:
        return {}
    if isinstance(roles, str):
        roles = [roles]
    for i, role in enumerate(roles):
        check_role(role, f"{field}[{i}]")
    return {"roles": list(roles)}


def _call(kind: str, framework_id: IdLike, **body: Any) -> Json:
    call: Json = {"type": kind, "framework_id": id_message(framework_id, "framework_id")}
    call.update(body)
    return call


def subscribe(framework_info: Json, suppressed_roles: Optional[Sequence[str]] = None) -> Json:
    """SUBSCRIBE; a framework_info carrying ``id`` re-subscribes (``framework_id`` is set
    to match, as Mesos requires)."""
    sub: Json = {"framework_info": framework_info}
    if suppressed_roles:
        sub["suppressed_roles"] = _roles(suppressed_roles, "suppressed_roles")["roles"]
    call: Json = {"type": "SUBSCRIBE", "subscribe": sub}
    if "id" in framework_info:
        call["framework_id"] = id_message(framework_info["id"], "framework_info.id")
    return call


def teardown(framework_id: IdLike) -> Json:
    return _call("TEARDOWN", framework_id)


def accept(
    framework_id: IdLike,
    offer_ids: Iterable[OfferLike],
    operations: Sequence[Json],
    refuse_seconds: Optional[float] = None,
) -> Json:
    """ACCEPT ``offer_ids`` (all on one agent) with ``operations`` (LAUNCH, RESERVE...)."""
    for i, op in enumerate(operations):
        if not isinstance(op, Mapping) or not isinstance(op.get("type"), str):
            raise ValidationError(f"operations[{i}] needs a 'type' (e.g. 'LAUNCH'), got {op!r}")
    body: Json = {"offer_ids": _offer_ids(offer_ids, "offer_ids"), "operations": list(operations)}
    body.update(_filters(refuse_seconds))
    return _call("ACCEPT", framework_id, accept=body)


def launch_operation(tasks: Sequence[Json]) -> Json:
    """The LAUNCH operation of an ACCEPT for ``tasks`` (TaskInfo dicts)."""
    for i, task in enumerate(tasks):
        for key in ("name", "task_id", "agent_id"):
            if key not in task:
                raise ValidationError(f"tasks[{i}].{key} is required")
        if "command" not in task and "executor" not in task:
            raise ValidationError(f"tasks[{i}] needs a 'command' or an 'executor'")
    return {"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}


def decline(
    framework_id: IdLike, offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None
) -> Json:
    body: Json = {"offer_ids": _offer_ids(offer_ids, "offer_ids")}
    body.update(_filters(refuse_seconds))
    return _call("DECLINE", framework_id, decline=body)


def _inverse_offers(
    kind: str, framework_id: IdLike, inverse_offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float]
) -> Json:
    body: Json = {"inverse_offer_ids": _offer_ids(inverse_offer_ids, "inverse_offer_ids")}
    body.update(_filters(refuse_seconds))
    return _call(kind, framework_id, **{kind.lower(): body})


def accept_inverse_offers(
    framework_id: IdLike, inverse_offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None
) -> Json:
    """ACCEPT_INVERSE_OFFERS: agree to free the agents of these inverse offers."""
    return _inverse_offers("ACCEPT_INVERSE_OFFERS", framework_id, inverse_offer_ids, refuse_seconds)


def decline_inverse_offers(
    framework_id: IdLike, inverse_offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None
) -> Json:
    """DECLINE_INVERSE_OFFERS."""
    return _inverse_offers("DECLINE_INVERSE_OFFERS", framework_id, inverse_offer_ids, refuse_seconds)


def revive(framework_id: IdLike, roles: Optional[Sequence[str]] = None) -> Json:
    """REVIVE: clears filters and unsuppresses offers (all roles when ``roles`` is None)."""
    return _call("REVIVE", framework_id, revive=_roles(roles, "roles"))


def suppress(framework_id: IdLike, roles: Optional[Sequence[str]] = None) -> Json:
    """SUPPRESS: no more offers (for ``roles``, or all) until REVIVE."""
    return _call("SUPPRESS", framework_id, suppress=_roles(roles, "roles"))


def kill(
    framework_id: IdLike,
    task_id: IdLike,
    agent_id: Optional[IdLike] = None,
    grace_period_seconds: Optional[float] = None,
) -> Json:
    body: Json = {"task_id": id_message(task_id, "task_id")}
    if agent_id is not None:
        body["agent_id"] = id_message(agent_id, "agent_id")
    if grace_period_seconds is not None:
        nanos = int(grace_period_seconds * 1e9)
        body["kill_policy"] = {"grace_period": {"nanoseconds": nanos}}
    return _call("KILL", framework_id, kill=body)


def shutdown(framework_id: IdLike, executor_id: IdLike, agent_id: IdLike) -> Json:
    body = {
        "executor_id": id_message(executor_id, "executor_id"),
        "agent_id": id_message(agent_id, "agent_id"),
    }
    return _call("SHUTDOWN", framework_id, shutdown=body)


def acknowledge(
    framework_id: IdLike, agent_id: IdLike, task_id: IdLike, uuid: Union[str, bytes]
) -> Json:
    """ACKNOWLEDGE one status update; ``uuid`` as the update carried it (base64) or raw."""
    body = {
        "agent_id": id_message(agent_id, "agent_id"),
        "task_id": id_message(task_id, "task_id"),
        "uuid": uuid_field(uuid, "uuid"),
    }
    return _call("ACKNOWLEDGE", framework_id, acknowledge=body)


def acknowledge_status(framework_id: IdLike, status: Mapping[str, Any]) -> Optional[Json]:
    """The ACKNOWLEDGE for an UPDATE event's ``status``, or None when it needs none
    (master-generated updates carry no uuid)."""
    uuid = status.get("uuid")
    if not uuid:
        return None
    return acknowledge(framework_id, status["agent_id"], status["task_id"], uuid)


def acknowledge_operation_status(
    framework_id: IdLike,
    operation_id: IdLike,
    uuid: Union[str, bytes],
    agent_id: Optional[IdLike] = None,
    resource_provider_id: Optional[IdLike] = None,
) -> Json:
    body: Json = {"operation_id": id_message(operation_id, "operation_id"), "uuid": uuid_field(uuid, "uuid")}
    if agent_id is not None:
        body["agent_id"] = id_message(agent_id, "agent_id")
    if resource_provider_id is not None:
        body["resource_provider_id"] = id_message(resource_provider_id, "resource_provider_id")
    return _call("ACKNOWLEDGE_OPERATION_STATUS", framework_id, acknowledge_operation_status=body)


#: A task to reconcile: its id, or (task id, agent id or None).
TaskRef = Union[IdLike, Tuple[IdLike, Optional[IdLike]]]


def reconcile(framework_id: IdLike, tasks: Iterable[TaskRef] = ()) -> Json:
    """RECONCILE ``tasks`` (explicit), or every task the master knows (implicit: none)."""
    entries = []
    for i, task in enumerate(tasks):
        agent: Optional[IdLike] = None
        if isinstance(task, tuple):
            task, agent = task
        entry: Json = {"task_id": id_message(task, f"tasks[{i}].task_id")}
        if agent is not None:
            entry["agent_id"] = id_message(agent, f"tasks[{i}].agent_id")
        entries.append(entry)
    body: Json = {"tasks": entries} if entries else {}
    return _call("RECONCILE", framework_id, reconcile=body)


def reconcile_operations(framework_id: IdLike, operations: Sequence[Json] = ()) -> Json:
    """RECONCILE_OPERATIONS (each ``{"operation_id": ..., "agent_id"?: ...}``)."""
    body: Json = {"operations": list(operations)} if operations else {}
    return _call("RECONCILE_OPERATIONS", framework_id, reconcile_operations=body)


def message(
    framework_id: IdLike, agent_id: IdLike, executor_id: IdLike, data: Union[bytes, str]
) -> Json:
    """MESSAGE: ``data`` (bytes, or text sent as UTF-8) to an executor."""
    body = {
        "agent_id": id_message(agent_id, "agent_id"),
        "executor_id": id_message(executor_id, "executor_id"),
        "data": encode_bytes(data),
    }
    return _call("MESSAGE", framework_id, message=body)


def request(framework_id: IdLike, requests: Sequence[Json]) -> Json:
    """REQUEST resources (each ``{"agent_id"?: ..., "resources": [...]}``)."""
    return _call("REQUEST", framework_id, request={"requests": list(requests)})


def update_framework(
    framework_info: Json, suppressed_roles: Optional[Sequence[str]] = None
) -> Json:
    """UPDATE_FRAMEWORK: ``framework_info`` must carry the framework's ``id``."""
    if "id" not in framework_info:
        raise ValidationError("framework_info.id is required for UPDATE_FRAMEWORK")
    body: Json = {"framework_info": framework_info}
    if suppressed_roles:
        body["suppressed_roles"] = list(suppressed_roles)
    return _call("UPDATE_FRAMEWORK", framework_info["id"], update_framework=body)
