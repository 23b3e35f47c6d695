"""What the sync and asyncio clients share and that does no I/O: master addresses,
redirects, backoff, the scheduler session's state (framework id, stream id, heartbeat)."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union
from urllib.parse import urlsplit

from ._json import Json
from .calls import subscribe as subscribe_call
from .errors import HTTPError, MasterError, ValidationError

log = logging.getLogger("ratufa")

SCHEDULER_PATH = "/api/v1/scheduler"
EXECUTOR_PATH = "/api/v1/executor"
JSON = "application/json"

#: Most 307s followed for one SUBSCRIBE (a leader that moves during a redirect).
MAX_REDIRECTS = 5

#: Mesos announces 15 s; used until SUBSCRIBED says otherwise.
DEFAULT_HEARTBEAT_SECONDS = 15.0


def base_url(address: str, scheme: str = "http") -> str:
    """``scheme://host:port`` for ``host:port`` (``scheme`` then says which) or a URL
    (a path is dropped)."""
    address = address.strip()
    if not address:
        raise ValidationError("a master address must not be empty")
    if "://" not in address:
        address = f"{scheme}://{address}"
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"not a master address: {address!r} (want host:port or http://host:port)")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Masters:
    """Where to look for the leading master: a fixed list, or a ZooKeeper URL."""

    urls: List[str] = field(default_factory=list)
    zk: Optional[str] = None

    #: The scheme of bare ``host:port`` masters and of detected leaders.
    scheme: str = "http"

    @classmethod
    def parse(cls, masters: Union[str, Sequence[str]], scheme: str = "http") -> "Masters":
        """``"zk://host:2181/mesos"``, ``"host:5050"``, ``"h1:5050,h2:5050"`` or a list;
        ``scheme`` is ``https`` for a cluster with TLS."""
        if isinstance(masters, str):
            if masters.startswith("zk://"):
                return cls(zk=masters, scheme=scheme)
            masters = [m for m in masters.split(",") if m.strip()]
        urls = [base_url(m, scheme) for m in masters]
        if not urls:
            raise ValidationError("masters: give at least one master (host:port) or a zk:// URL")
        return cls(urls=urls, scheme=scheme)


def redirect_target(current: str, location: Optional[str]) -> str:
    """The base URL a 307 points at. Mesos sends ``//host:port/path`` (no scheme);
    ratufa an absolute URL; both work, taking the scheme of the request."""
    if not location:
        raise ValidationError(f"{current} answered 307 without a Location")
    if location.startswith("//"):
        location = urlsplit(current).scheme + ":" + location
    return base_url(location)


class TryNext(Exception):
    """This master cannot take the subscription now (unreachable, 503): try another."""


class Backoff:
    """Full-jitter exponential backoff: the n-th wait is uniform in
    [0, min(cap, base·2ⁿ)], so that many clients a master lost do not return at once."""

    def __init__(self, base: float = 0.2, cap: float = 10.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class SchedulerSession:
    """A framework's side of one subscription after another."""

    def __init__(self, framework_info: Json, missed_heartbeats: float) -> None:
        self.framework_info = framework_info
        self.framework_id: Optional[str] = None
        self.stream_id: Optional[str] = None
        self.heartbeat_seconds = DEFAULT_HEARTBEAT_SECONDS
        self.missed_heartbeats = missed_heartbeats
        self.subscriptions = 0

    def subscribe_call(self, suppressed_roles: Optional[Sequence[str]]) -> Json:
        """SUBSCRIBE, carrying the framework id once the master gave one: after a
        disconnect or failover the framework comes back as itself."""
        info = dict(self.framework_info)
        if self.framework_id is not None:
            info["id"] = {"value": self.framework_id}
        return subscribe_call(info, suppressed_roles)

    def silence_allowed(self) -> float:
        """Seconds without a byte after which the stream counts as dead."""
        return self.heartbeat_seconds * self.missed_heartbeats

    def on_stream_open(self, stream_id: Optional[str]) -> None:
        self.stream_id = stream_id

    def on_disconnect(self) -> None:
        self.stream_id = None

    def on_event(self, event: Json) -> None:
        """Updates the session from an event; raises MasterError for ERROR."""
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            sub = event.get("subscribed", {})
            self.framework_id = sub.get("framework_id", {}).get("value", self.framework_id)
            interval = sub.get("heartbeat_interval_seconds")
            if isinstance(interval, (int, float)) and interval > 0:
                self.heartbeat_seconds = float(interval)
            self.subscriptions += 1
            log.info(
                "subscribed",
                extra={"framework_id": self.framework_id, "heartbeat": self.heartbeat_seconds},
            )
        elif kind == "ERROR":
            message = event.get("error", {}).get("message") or event.get("message") or ""
            raise MasterError(str(message))


class SubscribeHops:
    """The answers to one SUBSCRIBE at one master, redirect by redirect: 200 is the
    stream, 307 moves to the leader, 4xx raises HTTPError, anything else (503, a
    master unreachable) means trying another master (:class:`TryNext`)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._hops = 0

    @property
    def url(self) -> str:
        return self.base + SCHEDULER_PATH

    def unreachable(self, why: Exception) -> "TryNext":
        return TryNext(f"{self.base}: {why!r}")

    def refused(self, status: int, location: Optional[str], body: str) -> None:
        """After a non-200 answer: moves on to the 307's target, or raises."""
        if status == 307 and self._hops < MAX_REDIRECTS:
            self._hops += 1
            self.base = redirect_target(self.base, location)
            return
        if 400 <= status < 500:
            raise HTTPError(status, body, self.url)
        raise TryNext(f"{self.base}: {status} {body.strip()}")


class CallAttempts:
    """The answers to one call, as :meth:`ratufa.Scheduler._send` handles them."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base = base
        self._deadline = time.monotonic() + timeout
        self._backoff = Backoff(cap=2.0)

    @property
    def url(self) -> str:
        return self.base + SCHEDULER_PATH

    def answered(self, call: Json, status: int, location: Optional[str], body: str) -> Optional[float]:
        """None when the call is done (or dropped: no leader until the deadline),
        else the seconds to wait before sending it again. Raises HTTPError for a
        refusal (4xx) or a failure retrying will not mend (500, 501)."""
        if status in (200, 202):
            return None
        late = time.monotonic() > self._deadline
        if status == 307 and not late:
            self.base = redirect_target(self.base, location)
            return 0.0
        if status != 503:
            raise HTTPError(status, body, self.url)
        if late:
            log.warning("call dropped: no leader", extra={"call": call["type"], "status": status})
            return None
        return self._backoff.next_delay()
