"""Every scheduler call as a method, written once for the sync and asyncio clients.

``SchedulerCalls[R]`` builds each call with :mod:`ratufa.calls` and hands it to
``_send``, which returns ``R``: ``None`` for the sync client (the call is done),
an awaitable for the asyncio one.
"""

from __future__ import annotations

from typing import Any, Generic, Iterable, Mapping, Optional, Sequence, TypeVar, Union

from . import calls
from ._json import IdLike, Json
from .calls import OfferLike, TaskRef
from .errors import RatufaError

R = TypeVar("R")


class SchedulerCalls(Generic[R]):
    """The calls of the scheduler API. Each needs a subscription (the framework id)."""

    def _send(self, call: Json) -> R:
        raise NotImplementedError

    def _framework_id(self) -> str:
        raise NotImplementedError

    def _stopping(self) -> None:
        """Called before TEARDOWN: the stream the master then closes is not to be
        reopened."""

    def _require_id(self) -> str:
        framework_id = self._framework_id()
        if not framework_id:
            raise RatufaError("not subscribed yet: calls need the framework id SUBSCRIBED gives")
        return framework_id

    def teardown(self) -> R:
        """TEARDOWN: the master kills every task and forgets the framework."""
        call = calls.teardown(self._require_id())
        self._stopping()
        return self._send(call)

    def accept(
        self,
        offer_ids: Iterable[OfferLike],
        operations: Sequence[Json],
        refuse_seconds: Optional[float] = None,
    ) -> R:
        """ACCEPT offers (ids or whole offers, all of one agent) with ``operations``."""
        return self._send(calls.accept(self._require_id(), offer_ids, operations, refuse_seconds))

    def launch(
        self, offer_ids: Iterable[OfferLike], tasks: Sequence[Json], refuse_seconds: Optional[float] = None
    ) -> R:
        """ACCEPT with one LAUNCH of ``tasks``; what the tasks leave is declined."""
        return self.accept(offer_ids, [calls.launch_operation(tasks)], refuse_seconds)

    def decline(self, offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None) -> R:
        """DECLINE offers; ``refuse_seconds`` filters their agents for that long."""
        return self._send(calls.decline(self._require_id(), offer_ids, refuse_seconds))

    def accept_inverse_offers(
        self, inverse_offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None
    ) -> R:
        return self._send(
            calls.accept_inverse_offers(self._require_id(), inverse_offer_ids, refuse_seconds)
        )

    def decline_inverse_offers(
        self, inverse_offer_ids: Iterable[OfferLike], refuse_seconds: Optional[float] = None
    ) -> R:
        return self._send(
            calls.decline_inverse_offers(self._require_id(), inverse_offer_ids, refuse_seconds)
        )

    def revive(self, roles: Optional[Sequence[str]] = None) -> R:
        """REVIVE: clear filters, resume offers (for ``roles``, or all)."""
        return self._send(calls.revive(self._require_id(), roles))

    def suppress(self, roles: Optional[Sequence[str]] = None) -> R:
        """SUPPRESS offers (for ``roles``, or all) until REVIVE."""
        return self._send(calls.suppress(self._require_id(), roles))

    def kill(
        self,
        task_id: IdLike,
        agent_id: Optional[IdLike] = None,
        grace_period_seconds: Optional[float] = None,
    ) -> R:
        """KILL a task (an unknown one gets a reconciliation update back)."""
        return self._send(calls.kill(self._require_id(), task_id, agent_id, grace_period_seconds))

    def shutdown(self, executor_id: IdLike, agent_id: IdLike) -> R:
        """SHUTDOWN an executor and its tasks."""
        return self._send(calls.shutdown(self._require_id(), executor_id, agent_id))

    def acknowledge(self, agent_id: IdLike, task_id: IdLike, uuid: Union[str, bytes]) -> R:
        """ACKNOWLEDGE a status update (for manual acknowledgements)."""
        return self._send(calls.acknowledge(self._require_id(), agent_id, task_id, uuid))

    def acknowledge_update(self, status: Mapping[str, Any]) -> Optional[R]:
        """ACKNOWLEDGE the update whose ``status`` is given, if it carries a uuid;
        returns None (and sends nothing) for updates that need no acknowledgement."""
        call = calls.acknowledge_status(self._require_id(), status)
        return None if call is None else self._send(call)

    def acknowledge_operation_status(
        self,
        operation_id: IdLike,
        uuid: Union[str, bytes],
        agent_id: Optional[IdLike] = None,
        resource_provider_id: Optional[IdLike] = None,
    ) -> R:
        return self._send(
            calls.acknowledge_operation_status(
                self._require_id(), operation_id, uuid, agent_id, resource_provider_id
            )
        )

    def reconcile(self, tasks: Iterable[TaskRef] = ()) -> R:
        """RECONCILE: the latest state of ``tasks`` (ids or (task, agent) pairs), or of
        every task (no argument); answers arrive as UPDATE events without uuid."""
        return self._send(calls.reconcile(self._require_id(), tasks))

    def reconcile_operations(self, operations: Sequence[Json] = ()) -> R:
        return self._send(calls.reconcile_operations(self._require_id(), operations))

    def message(self, agent_id: IdLike, executor_id: IdLike, data: Union[bytes, str]) -> R:
        """MESSAGE: ``data`` to an executor."""
        return self._send(calls.message(self._require_id(), agent_id, executor_id, data))

    def request(self, requests: Sequence[Json]) -> R:
        """REQUEST resources (a hint to the allocator)."""
        return self._send(calls.request(self._require_id(), requests))

    def update_framework(
        self, framework_info: Mapping[str, Any], suppressed_roles: Optional[Sequence[str]] = None
    ) -> R:
        """UPDATE_FRAMEWORK with a new FrameworkInfo (its id is filled in)."""
        info = dict(framework_info)
        info["id"] = {"value": self._require_id()}
        return self._send(calls.update_framework(info, suppressed_roles))


def handler_method(handler: object, event: Json) -> Any:
    """The callback for ``event`` on ``handler``: ``on_offers`` for OFFERS,
    ``on_update`` for UPDATE, ... or None when the handler has no such method."""
    kind = str(event.get("type", "unknown")).lower()
    return getattr(handler, f"on_{kind}", None)
