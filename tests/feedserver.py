"""A real HTTP server on a loopback address, for tests and benchmarks that fetch feeds.

Routes are plain functions from a recorded `Request` to a `Reply`, set by the test:

    with FeedServer() as server:                      # 127.0.0.1, a free port
        server.route("/feed.xml", feed(RSS_BYTES, etag='"v1"'))
        server.route("/old", redirect("/feed.xml", status=301))
        url = server.url("/feed.xml")
        ...
        assert server.requests_to("/feed.xml")[0].headers["if-none-match"] == '"v1"'

`FeedServer("127.0.0.2")` serves on another loopback address, so one machine can stand in for
several hosts (Linux routes all of 127.0.0.0/8 to the loopback interface). A reply body may be
bytes (sent with a Content-Length, keep-alive) or an iterable of chunks (streamed until it ends
or the client goes away, then the connection closes), with an optional pause between chunks:
enough to play a slow, endless or compressed-bomb server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """A request as the server received it."""

    method: str
    path: str
    """The path without the query string."""
    query: str
    headers: dict[str, str]
    """Header names lower-cased."""
    arrived: float
    """time.monotonic() when the request line was read."""


@dataclass
class Reply:
    """What a route answers."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    pause: float = 0.0
    """Seconds to wait before each chunk of an iterable body."""


Route = Callable[[Request], Reply]


class _Listener(ThreadingHTTPServer):
    # socketserver's backlog of 5 overflows when a poller with no per-host interval opens
    # dozens of connections at once; the kernel then retries them seconds later, and a test
    # can run into its fetch timeout.
    request_queue_size = 128


class FeedServer:
    """A threaded HTTP/1.1 server on `host`, port chosen by the OS; stop it with close()."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _Listener((host, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.host = host
        self.port = int(self._httpd.server_address[1])
        # A short poll interval keeps close() (which waits for the serving loop) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, answer: Route | Reply) -> None:
        """Answer requests for `path` with a fixed Reply or a function of the Request."""
        self.routes[path] = answer if callable(answer) else (lambda _request: answer)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
            arrived = time.monotonic()
            parts = urlsplit(self.path)
            request = Request(
                method="GET",
                path=parts.path,
                query=parts.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                arrived=arrived,
            )
            server._record(request)
            route = server.routes.get(parts.path)
            reply = route(request) if route else Reply(404, body=b"no such route\n")
            try:
                self._send(reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up, as tests of limits expect

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            names = {name.lower() for name in reply.headers}
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if isinstance(reply.body, bytes):
                if "content-length" not in names:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.flush()
            for chunk in reply.body:
                if server._closing.is_set():
                    return
                if reply.pause:
                    time.sleep(reply.pause)
                self.wfile.write(chunk)
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler


def feed(
    body: bytes,
    *,
    content_type: str | None = "application/rss+xml; charset=utf-8",
    etag: str | None = None,
    last_modified: str | None = None,
    headers: dict[str, str] | None = None,
) -> Route:
    """A feed that honours conditional GET the way a well-behaved server does: 304 when the
    request's If-None-Match equals `etag` or its If-Modified-Since equals `last_modified`."""
    common = dict(headers or {})
    if etag:
        common["ETag"] = etag
    if last_modified:
        common["Last-Modified"] = last_modified

    def answer(request: Request) -> Reply:
        if etag and request.headers.get("if-none-match") == etag:
            return Reply(304, dict(common))
        if last_modified and request.headers.get("if-modified-since") == last_modified:
            return Reply(304, dict(common))
        sent = dict(common)
        if content_type:
            sent["Content-Type"] = content_type
        return Reply(200, sent, body)

    return answer


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to `location` (relative or absolute, any scheme: the client must judge)."""
    return Reply(status, {"Location": location})


def http_date(seconds_since_epoch: float) -> str:
    """An RFC 7231 date, as in Last-Modified and Retry-After."""
    return formatdate(seconds_since_epoch, usegmt=True)
