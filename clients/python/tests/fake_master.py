"""A scripted stand-in for a master, for the protocol-robustness tests only (corrupt
RecordIO, a stream cut mid-record, redirects and 503s): each POST gets the next
scripted answer, and every request body is kept for the test to read."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ratufa.recordio import encode

Json = Dict[str, Any]


def record(event: Json) -> bytes:
    return encode(json.dumps(event).encode())


def subscribed(framework_id: str, heartbeat: float = 1.0) -> bytes:
    return record(
        {
            "type": "SUBSCRIBED",
            "subscribed": {"framework_id": {"value": framework_id}, "heartbeat_interval_seconds": heartbeat},
        }
    )


class Answer:
    """What one request gets: a status, headers, a body (or a function of the fake,
    for a body that depends on earlier requests); for a 200 stream the body is written
    and then the connection is closed (``close=True``) or held open."""

    def __init__(
        self,
        status: int,
        body: Union[bytes, Callable[["FakeMaster"], bytes]] = b"",
        headers: Optional[Dict[str, str]] = None,
        close: bool = True,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.close = close


class FakeMaster:
    def __init__(self, answers: List[Answer]) -> None:
        self.answers = answers
        self.requests: List[Tuple[Dict[str, str], Json]] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append((dict(self.headers), body))
                answer = fake.answers.pop(0) if fake.answers else Answer(503, b"script ended")
                body_out = answer.body(fake) if callable(answer.body) else answer.body
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                if answer.status == 200 and body.get("type") == "SUBSCRIBE":
                    # No length, no chunking: the body runs until the connection closes.
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Mesos-Stream-Id", f"stream-{len(fake.requests)}")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body_out)
                    self.wfile.flush()
                    if not answer.close:
                        fake.release.wait(60)
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body_out)))
                self.end_headers()
                self.wfile.write(body_out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def subscribe_bodies(self) -> List[Json]:
        return [body for _, body in self.requests if body.get("type") == "SUBSCRIBE"]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
