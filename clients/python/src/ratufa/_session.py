"""What the sync and asyncio clients share and that does no I/O: master addresses,
redirects, backoff, the scheduler session's state (framework id, stream id, heartbeat)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union
from urllib.parse import urlsplit

from ._json import Json
from .calls import subscribe as subscribe_call
from .errors import MasterError, ValidationError

log = logging.getLogger("ratufa")

SCHEDULER_PATH = "/api/v1/scheduler"
EXECUTOR_PATH = "/api/v1/executor"
JSON = "application/json"

#: Mesos announces 15 s; used until SUBSCRIBED says otherwise.
DEFAULT_HEARTBEAT_SECONDS = 15.0


def base_url(address: str) -> str:
    """``scheme://host:port`` for ``host:port`` or a URL (a path is dropped)."""
    address = address.strip()
    if not address:
        raise ValidationError("a master address must not be empty")
    if "://" not in address:
        address = "http://" + address
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"not a master address: {address!r} (want host:port or http://host:port)")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Masters:
    """Where to look for the leading master: a fixed list, or a ZooKeeper URL."""

    urls: List[str] = field(default_factory=list)
    zk: Optional[str] = None

    @classmethod
    def parse(cls, masters: Union[str, Sequence[str]]) -> "Masters":
        """``"zk://host:2181/mesos"``, ``"host:5050"``, ``"h1:5050,h2:5050"`` or a list."""
        if isinstance(masters, str):
            if masters.startswith("zk://"):
                return cls(zk=masters)
            masters = [m for m in masters.split(",") if m.strip()]
        urls = [base_url(m) for m in masters]
        if not urls:
            raise ValidationError("masters: give at least one master (host:port) or a zk:// URL")
        return cls(urls=urls)


def redirect_target(current: str, location: Optional[str]) -> str:
    """The base URL a 307 points at. Mesos sends ``//host:port/path`` (no scheme);
    ratufa an absolute URL; both work, taking the scheme of the request."""
    if not location:
        raise ValidationError(f"{current} answered 307 without a Location")
    if location.startswith("//"):
        location = urlsplit(current).scheme + ":" + location
    return base_url(location)


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
