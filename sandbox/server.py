"""The sandbox's one port: REST (the Django WSGI application) and the stream (``/ws``) under uvicorn.

Parsec's SDK derives the stream's URL from the REST base URL (``base_url + "/ws"``), so both are
served on one listener. uvicorn (httptools parser, uvloop) owns the socket and runs a small ASGI
application: a WebSocket to ``/ws`` is the stream (sandbox.stream.connection), on the event loop;
every HTTP request goes to the unchanged WSGI application, run by a few threads that take turns
through whole requests (sandbox.serial), as waitress's threads did before. The loop thread parses
requests and writes responses meanwhile, and never runs Django or waits on the engine
(bench/sandbox_load.py places as many orders per second as under waitress; see the README).

Two uvicorn details the sandbox needs and ASGI does not offer:
- a fault that drops a request closes the connection without writing a byte (a 500 is what an
  ASGI server sends when an application ends without a response), so ``_close_unanswered`` closes
  the request's transport, found on uvicorn's bound ``send``;
- the stream answers a WebSocket ping with a ``heartbeat`` message (NOTES §10), and ASGI does not
  show pings to the application: ``StreamProtocol`` (uvicorn's sans-I/O WebSocket protocol)
  passes each one on as a ``sandbox.ping`` event.
"""

from __future__ import annotations

import asyncio
import io
import queue
import sys
import threading
from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from sandbox import conf, serial
from sandbox.faults import ResponseDropped
from sandbox.stream.connection import PING_EVENT

STREAM_PATH = "/ws"


class StreamProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, telling the application about each ping it answers."""

    def handle_ping(self) -> None:
        super().handle_ping()
        if self.handshake_complete and not self.close_sent:
            self.queue.put_nowait({"type": PING_EVENT})


class RequestPool:
    """The threads that run WSGI requests; ``set_thread_count`` grows or shrinks it (sandbox.serial
    lends a thread to each request that sleeps out a fault with its turn given back)."""

    def __init__(self, threads: int):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._count = 0
        self.set_thread_count(threads)

    def set_thread_count(self, count: int) -> None:
        with self._lock:
            while self._count < count:
                self._count += 1
                threading.Thread(target=self._work, name=f"sandbox-request-{self._count}", daemon=True).start()
            while self._count > count:
                self._count -= 1
                self._jobs.put(None)  # the thread that takes it ends

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()


def _environ(scope: dict, body: bytes) -> dict:
    """PEP 3333 environ of an ASGI HTTP scope (header values as latin-1 strings)."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("127.0.0.1", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": str(client[0]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE" or name == "CONTENT_LENGTH":
            environ[name] = value
            continue
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call_wsgi(application, environ: dict) -> tuple[int, list, bytes]:
    started: list = []
    chunks: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, headers]
        return chunks.append

    result = application(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    status, headers = started
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return int(status[:3]), encoded, b"".join(chunks)


class SandboxApp:
    """The ASGI application: HTTP to the WSGI application in the pool, ``/ws`` to the stream."""

    def __init__(self, wsgi_application, *, threads: int):
        self.wsgi = wsgi_application
        self.pool = RequestPool(threads)
        self.serial = conf.SANDBOX_SERIAL_REQUESTS
        if self.serial:
            serial.attach(self.pool, threads)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            if scope["path"] != STREAM_PATH:
                await receive()
                await send({"type": "websocket.close", "code": 1008})  # before accepting: uvicorn answers 403
                return
            from sandbox.stream import connection

            await connection.serve(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send) -> None:
        from sandbox.stream import hub

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                hub.start(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                hub.stop()
                self.pool.set_thread_count(0)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _run(self, environ: dict, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        try:
            if self.serial:
                with serial.turn():
                    result = _call_wsgi(self.wsgi, environ)
            else:
                result = _call_wsgi(self.wsgi, environ)
        except BaseException as error:  # handed to the loop: a dropped response, or a server bug
            result = error
        loop.call_soon_threadsafe(_settle, future, result)

    async def _http(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pool.submit(lambda: self._run(_environ(scope, body), loop, future))
        try:
            status, headers, content = await future
        except ResponseDropped:
            await _close_unanswered(receive, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _settle(future: asyncio.Future, result) -> None:
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


async def _close_unanswered(receive, send) -> None:
    """Close the request's connection without a response (uvicorn's cycle holds the transport)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the response: the server is not uvicorn")
    transport.close()
    while (await receive())["type"] != "http.disconnect":  # uvicorn reports the closed connection
        pass


def serve(wsgi_application, *, host: str, port: int, threads: int) -> None:
    """Run the server until SIGINT/SIGTERM."""
    import uvicorn

    app = SandboxApp(wsgi_application, threads=threads)
    config = uvicorn.Config(
        app, host=host, port=port, loop="uvloop", http="httptools", ws=StreamProtocol, lifespan="on",
        log_level="warning", access_log=False, backlog=2048, timeout_keep_alive=120,
        timeout_graceful_shutdown=5, ws_max_size=1 << 20,
        # Compressing every message cost the loop (and each client) more than the bytes it saved on loopback.
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run()
