"""A scripted Parsec on loopback: a real HTTP server whose answers each test writes (fixture
``parsec_server`` in tests/parsec/conftest.py and tests/sync/conftest.py).

Each route answers from a list of scripted responses (the last one repeats); every
request is recorded with its arrival time, headers and body, so tests check what went
over the wire, never by patching ``requests``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from parsec.client import ParsecClient
from parsec.ratelimit import NullLimiter

BUILDER_KEY = "pk_test_builder_SECRETKEY_9f3a"


@dataclass
class Reply:
    status: int = 200
    body: object = None  # JSON-serialisable, or str for a raw body
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False  # abort the connection (RST) instead of answering


def error(status: int, code: str, message: str, **headers) -> Reply:
    retryable = code in ("rate_limit_exceeded", "service_unavailable")
    return Reply(status, {"error": message, "code": code, "retryable": retryable}, headers=headers)


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict
    body: object
    at: float


class ScriptedParsec(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def script(self, method: str, path: str, *replies: Reply | object) -> None:
        """Answer ``method path`` (path without /api/v1) with ``replies`` in turn; the last repeats.
        A bare JSON value stands for a 200 with that body."""
        self.routes[(method, path)] = [r if isinstance(r, Reply) else Reply(200, r) for r in replies]

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path)]

    def next_reply(self, method: str, path: str) -> Reply:
        with self.lock:
            replies = self.routes.get((method, path.removeprefix("/api/v1")))
            if not replies:
                return Reply(404, {"error": f"no script for {method} {path}", "code": "not_found", "retryable": False})
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _handle(self):
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        server: ScriptedParsec = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests.append(
                Seen(self.command, split.path, {k: v[0] for k, v in parse_qs(split.query).items()}, dict(self.headers.items()), body, time.time())
            )
        reply = server.next_reply(self.command, split.path)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if reply.body is None:
            payload = b""
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
        else:
            payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            content_type = "text/html" if isinstance(reply.body, str) else "application/json"
            if payload:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key.replace("_", "-"), str(value))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PATCH = _handle


@contextmanager
def scripted_parsec() -> Iterator[ScriptedParsec]:
    """A scripted Parsec serving on a free loopback port until the block ends."""
    server = ScriptedParsec()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def make_client(url: str, **overrides) -> ParsecClient:
    options = {
        "base_url": url, "api_key": BUILDER_KEY, "connect_timeout": 1.0, "read_timeout": 0.5,
        "read_retries": 2, "max_backoff": 2.0, "backoff_base": 0.01, "limiter": NullLimiter(),
    }
    options.update(overrides)
    return ParsecClient(**options)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
