"""Dead-stream detection for the blocking client: a thread that shuts the stream's
socket down when no bytes arrived for the allowance (missed heartbeats × interval).

httpx fixes a response's read timeout when the body starts, but the allowance is known
only from SUBSCRIBED, the body's first record; shutting the socket down is what wakes
a blocked read in another thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator, Optional

import httpx


def stream_socket(response: httpx.Response) -> Optional[socket.socket]:
    """The socket under a streaming httpx response, when the transport exposes it."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


class Watchdog:
    def __init__(self, sock: socket.socket, allowance: float) -> None:
        self._sock = sock
        self._allowance = allowance
        self._last = time.monotonic()
        self._done = threading.Event()
        self.fired = False
        threading.Thread(target=self._watch, name="ratufa-heartbeat-watchdog", daemon=True).start()

    def set_allowance(self, seconds: float) -> None:
        self._allowance = seconds

    def watch(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Passes ``chunks`` through, counting each as a sign of life."""
        for chunk in chunks:
            self._last = time.monotonic()
            yield chunk

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while True:
            left = self._last + self._allowance - time.monotonic()
            if left <= 0:
                break
            # Short waits: the allowance may shrink when SUBSCRIBED arrives.
            if self._done.wait(min(left, 0.5)):
                return
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed
