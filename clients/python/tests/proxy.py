"""A TCP proxy between a client and a master that can stop forwarding, to make a
stream go silent without closing it (what a dead network path looks like)."""

from __future__ import annotations

import socket
import threading
from typing import List


class Proxy:
    """Forwards 127.0.0.1:<port> to ``upstream``. :meth:`freeze` stops forwarding on
    every connection open now (their sockets stay open); later connections forward."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._frozen: List[threading.Event] = []
        self._sockets: List[socket.socket] = []
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            frozen = threading.Event()
            with self._lock:
                self.connections += 1
                self._frozen.append(frozen)
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, frozen), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                if not frozen.is_set():
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            if frozen.is_set():
                continue  # swallowed: the other side hears nothing more
            try:
                dst.sendall(data)
            except OSError:
                return

    def freeze(self) -> None:
        with self._lock:
            for f in self._frozen:
                f.set()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass
