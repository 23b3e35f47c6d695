"""What the sync and asyncio scheduler clients share beyond the calls: their options,
the session's state as properties, stopping, and the order masters are tried in."""

from __future__ import annotations

import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Sequence, TypeVar, Union

import httpx

from ._methods import SchedulerCalls
from ._session import Masters, SchedulerSession
from ._watchdog import stream_socket
from .errors import RatufaError
from .framework import FrameworkInfo, framework_json
from .recordio import DEFAULT_MAX_RECORD_BYTES

if TYPE_CHECKING:
    from .zk import LeaderWatch, ZkClient

R = TypeVar("R")

log = logging.getLogger("ratufa.scheduler")


class SchedulerBase(SchedulerCalls[R]):
    """A framework's connection to the masters.

    :param masters: ``"host:port"``, ``"h1:5050,h2:5050"``, a list of them, or a
        ``zk://host:2181/mesos`` URL (needs ``ratufa[zk]``).
    :param framework_info: a :class:`FrameworkInfo` or its JSON dict; ``name`` is required.
    :param auto_acknowledge: acknowledge every UPDATE that carries a uuid before it is
        yielded (False: call :meth:`acknowledge_update` yourself).
    :param missed_heartbeats: heartbeat intervals of silence after which the stream is
        taken for dead and re-subscribed.
    :param suppressed_roles: roles whose offers are suppressed from the start.
    :param reconnect_timeout: seconds without any master accepting SUBSCRIBE after which
        :class:`NoLeaderError` is raised (None: keep trying).
    :param backoff_max: longest wait between subscription attempts, in seconds.
    :param request_timeout: connect/write timeout and the time calls may spend on retries.
    :param max_record_bytes: the largest event accepted (a larger length is corruption).
    :param auth: httpx authentication (e.g. ``httpx.BasicAuth(principal, secret)``).
    :param tls: for a cluster with TLS: the context to speak https with
        (:func:`ratufa.tls.context_from_env` reads Mesos's LIBPROCESS_SSL_* variables);
        bare ``host:port`` masters and leaders found in ZooKeeper are then https.
    """

    def __init__(
        self,
        masters: Union[str, Sequence[str]],
        framework_info: Union[FrameworkInfo, Mapping[str, Any]],
        *,
        auto_acknowledge: bool = True,
        missed_heartbeats: float = 5,
        suppressed_roles: Optional[Sequence[str]] = None,
        reconnect_timeout: Optional[float] = 300.0,
        backoff_max: float = 10.0,
        request_timeout: float = 30.0,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        auth: Optional[httpx.Auth] = None,
        tls: Optional[ssl.SSLContext] = None,
    ) -> None:
        self._masters = Masters.parse(masters, "https" if tls else "http")
        self._tls = tls
        self._session = SchedulerSession(framework_json(framework_info), missed_heartbeats)
        self._auto_ack = auto_acknowledge
        self._suppressed_roles = suppressed_roles
        self._reconnect_timeout = reconnect_timeout
        self._backoff_max = backoff_max
        self._request_timeout = request_timeout
        self._max_record = max_record_bytes
        self._leader: Optional[str] = None
        # zk:// only: the leader ZooKeeper named last, as (base URL, MasterInfo id).
        self._zk_leader: Optional[tuple[str, str]] = None
        #: zk:// only: this scheduler's hold on the process's ZooKeeper session, from
        #: its first detection until its events end (or it is closed).
        self._zk: Optional["ZkClient"] = None
        self._reconnect_reason: Optional[str] = None
        self._stopped = False
        # Set when a call found no master: the stream is re-subscribed after the event.
        self._broken = False
        self._open_client(auth)

    def _open_client(self, auth: Optional[httpx.Auth]) -> None:
        raise NotImplementedError

    @property
    def framework_id(self) -> Optional[str]:
        """The id the master gave in SUBSCRIBED (None before)."""
        return self._session.framework_id

    @property
    def stream_id(self) -> Optional[str]:
        """The current subscription's Mesos-Stream-Id."""
        return self._session.stream_id

    @property
    def subscriptions(self) -> int:
        """How many SUBSCRIBED events this client has seen (1 + reconnections)."""
        return self._session.subscriptions

    @property
    def leader(self) -> Optional[str]:
        """The base URL of the master that accepted the subscription."""
        return self._leader

    @property
    def reconnect_reason(self) -> Optional[str]:
        """Why the last stream was left for a new subscription (None before any)."""
        return self._reconnect_reason

    def _framework_id(self) -> str:
        return self._session.framework_id or ""

    def _stopping(self) -> None:
        self._stopped = True

    def stop(self) -> None:
        """Ends the events and callbacks after the current event, without TEARDOWN
        (the framework stays registered for its failover_timeout)."""
        self._stopped = True

    def _listed_masters(self) -> List[str]:
        """The masters of the list, the last known leader first."""
        urls = list(self._masters.urls)
        if self._leader in urls:
            urls.remove(self._leader)
        return ([self._leader] if self._leader else []) + urls

    def _zk_candidates(self) -> List[str]:
        """The leader ZooKeeper names (blocking: the asyncio client runs it in a thread)."""
        from .zk import ZkClient, detect_leader_info

        assert self._masters.zk is not None
        if self._zk is None:
            self._zk = ZkClient(self._masters.zk, self._request_timeout)
        self._zk_leader = detect_leader_info(
            self._masters.zk, self._request_timeout, self._masters.scheme, zk=self._zk
        )
        return [self._zk_leader[0]]

    def _release_zk(self) -> None:
        """Lets go of the ZooKeeper session (closed if no one else in the process
        uses it). Blocking: the asyncio client runs it in a thread."""
        zk, self._zk = self._zk, None
        if zk is not None:
            zk.release()

    def _follow_leader(self, response: httpx.Response) -> Optional["LeaderWatch"]:
        """zk:// only, for a stream opened at the leader ZooKeeper named: a watch that
        shuts the stream's socket down (waking its reader, which re-subscribes) when
        ZooKeeper names another leader. Blocking; None when there is nothing to watch
        or ZooKeeper cannot be reached (the heartbeat watchdog still guards the stream)."""
        if self._masters.zk is None or self._zk_leader is None or self._zk_leader[0] != self._leader:
            return None
        sock = stream_socket(response)
        if sock is None:
            return None

        def leave(reason: str) -> None:
            log.info("leader changed; leaving the stream", extra={"why": reason})
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

        from .zk import LeaderWatch

        try:
            return LeaderWatch(self._masters.zk, self._request_timeout, self._zk_leader[1], leave)
        except RatufaError as e:
            log.warning("cannot watch the leader in ZooKeeper", extra={"why": str(e)})
            return None
