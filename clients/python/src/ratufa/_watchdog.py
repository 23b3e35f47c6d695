"""Dead-stream detection for the blocking client: a thread that shuts the stream's
socket down when a read has waited longer than the allowance (missed heartbeats ×
interval) for bytes. Only time spent waiting counts: while the user's code handles an
event the heartbeats queue up in the socket, and are read at once afterwards.

httpx fixes a response's read timeout when the body starts, but the allowance is known
only from SUBSCRIBED, the body's first record; shutting the socket down is what wakes
a blocked read in another thread."""

from __future__ import annotations

import socket
import threading
import time
from asyncio.trsock import TransportSocket
from typing import Iterator, Optional, Union

import httpx

#: A stream's socket: asyncio transports hand out a wrapper that can still shut down.
StreamSocket = Union[socket.socket, TransportSocket]


def stream_socket(response: httpx.Response) -> Optional[StreamSocket]:
    """The socket under a streaming httpx response (blocking or asyncio), when the
    transport exposes it."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, (socket.socket, TransportSocket)) else None


class Watchdog:
    def __init__(self, sock: StreamSocket, allowance: float) -> None:
        self._sock = sock
        self._allowance = allowance
        # When the read in progress started; None while no read is waiting.
        self._waiting_since: Optional[float] = None
        self._done = threading.Event()
        self.fired = False
        threading.Thread(target=self._watch, name="ratufa-heartbeat-watchdog", daemon=True).start()

    def set_allowance(self, seconds: float) -> None:
        self._allowance = seconds

    def watch(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Passes ``chunks`` through, timing each wait for the next one."""
        it = iter(chunks)
        while True:
            self._waiting_since = time.monotonic()
            try:
                chunk = next(it)
            except StopIteration:
                return
            finally:
                self._waiting_since = None
            yield chunk

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.is_set():
            since = self._waiting_since
            if since is not None and time.monotonic() - since > self._allowance:
                self.fired = True
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed
                return
            # Short waits: the allowance may shrink when SUBSCRIBED arrives.
            self._done.wait(0.25)
