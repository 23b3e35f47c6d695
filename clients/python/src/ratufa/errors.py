"""The exceptions the client raises: one base class, one subclass per kind of failure."""

from __future__ import annotations


class RatufaError(Exception):
    """Base class of every error this package raises."""


class ValidationError(RatufaError, ValueError):
    """A call or FrameworkInfo was refused before it was sent; the message names the field."""


class HTTPError(RatufaError):
    """The master or agent refused a request: a 4xx status, or a 5xx other than 503
    (which is retried: "no leader yet").

    ``status`` is the HTTP status code and ``body`` the response's text, which holds the
    server's reason (e.g. "Failed to validate scheduler::Call: ...").
    """

    def __init__(self, status: int, body: str, url: str = "") -> None:
        self.status = status
        self.body = body
        self.url = url
        where = f" from {url}" if url else ""
        super().__init__(f"HTTP {status}{where}: {body.strip() or '(empty body)'}")


class MasterError(RatufaError):
    """The master sent an ERROR event (e.g. "Framework has been removed") and closed the
    stream. ``message`` is the master's text."""

    sender = "master"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"the {self.sender} sent ERROR: {message}")


class AgentError(MasterError):
    """The agent sent an ERROR event on an executor's stream (a MasterError too, so that
    one ``except`` serves both clients)."""

    sender = "agent"


class NoLeaderError(RatufaError):
    """No master could be reached, or none of them knows a leader, within the deadline."""


class RecordIOError(RatufaError):
    """The event stream is not valid RecordIO (a corrupt length, a record too large).
    The clients handle it by reconnecting; it reaches user code only from the decoder."""


class StreamClosed(RatufaError):
    """The event stream ended (possibly in the middle of a record) or went silent for
    longer than the missed-heartbeat allowance. The clients reconnect on it."""
