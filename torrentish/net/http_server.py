"""A small bounded HTTP/1.1 server on trio with h11: requests in, responses out.

    server = HttpServer(handler, HttpLimits(max_body=1 << 20))
    port = await nursery.start(server.serve, "127.0.0.1", 9091)

`handler(request) -> HttpResponse` is called once per request, with the whole body read
(bounded). h11 does the parsing (sans-I/O); this module moves bytes and enforces limits, so
a client cannot make it grow or hang: at most `max_connections` connections are served at once
(others are closed at once), the request line and headers are capped by h11, the body by
`max_body` (a larger Content-Length is answered 413 before any of it is read), each request
must arrive within `request_timeout`, an idle keep-alive connection is closed after
`idle_timeout`, and a client that stops reading is dropped once one write has waited
`send_timeout` (as nginx's send_timeout: between two successive writes, not for the whole
response, so a slow reader that keeps reading is served to the end). A malformed request gets h11's status (400, 413, 431...) and the connection
closes. An exception from the handler is a bug: it is logged and answered 500.

A response's body is bytes, or for a large file a `write_body` that sends it in chunks (share's
files): only a chunk at a time is in memory, and an OSError while it sends closes the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11
import trio

LOGGER = logging.getLogger("torrentish.http")
SEND_SLICE = 256 * 1024  # bytes written under one send_timeout


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 64
    max_header_bytes: int = 16 * 1024
    max_body: int = 1024 * 1024
    request_timeout: float = 30.0  # to receive one whole request
    idle_timeout: float = 120.0  # between requests on a keep-alive connection
    send_timeout: float = 60.0  # for one write to go out (a client that stops reading)
    max_requests_per_connection: int = 10_000
    connection_deadline: float | None = None  # seconds a connection may live at all (None: no cap)


@dataclass
class HttpRequest:
    method: str  # "GET", "POST", ...
    target: str  # as sent: "/transmission/rpc?x=1" (latin-1 decoded)
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes
    client: tuple[str, int]
    header_counts: dict[str, int] = field(default_factory=dict)  # how often each name came

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


BodyWriter = Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A body too large to hold (a shared file): `write_body(send)` sends exactly `length` bytes
    # in chunks (raising OSError if it cannot); `body` is then unused.
    write_body: BodyWriter | None = None
    length: int = 0


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _TooLarge(Exception):
    pass


class HttpServer:
    def __init__(self, handler: Handler, limits: HttpLimits | None = None, server_name: str = "torrentish"):
        self.handler = handler
        self.limits = limits or HttpLimits()
        self.server_name = server_name
        self.connections = 0
        self.refused_connections = 0

    async def serve(self, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on (host, port) and serve until cancelled; reports the bound port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self.connection, listeners)
            task_status.started(bound)

    async def connection(self, stream: trio.SocketStream) -> None:
        """Serve one accepted connection (for `trio.serve_listeners` over listeners of one's own)."""
        if self.connections >= self.limits.max_connections:
            self.refused_connections += 1
            await trio.aclose_forcefully(stream)
            return
        self.connections += 1
        try:
            peer = stream.socket.getpeername()
            deadline = self.limits.connection_deadline
            with trio.move_on_after(deadline if deadline is not None else float("inf")):
                await self._requests(stream, (peer[0], peer[1]))
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            pass
        finally:
            self.connections -= 1
            await trio.aclose_forcefully(stream)

    async def _requests(self, stream: trio.SocketStream, client: tuple[str, int]) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        for served in range(self.limits.max_requests_per_connection):
            wait = self.limits.idle_timeout if served else self.limits.request_timeout
            try:
                request = await self._read(conn, stream, client, wait)
            except h11.RemoteProtocolError as error:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = error.error_status_hint
                    await self._send(conn, stream, _closing(status, f"{status} bad request\n"), False)
                return
            except _TooLarge:
                await self._send(conn, stream, _closing(413, "413 request body too large\n"), False)
                return
            if request is None:
                return
            try:
                response = await self.handler(request)
            except Exception:  # noqa: BLE001 - a bug of ours answers 500, the server goes on
                LOGGER.exception("HTTP handler failed for %s %s", request.method, request.target[:200])
                response = HttpResponse(500, b"500 internal error\n")
            await self._send(conn, stream, response, request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read(self, conn: h11.Connection, stream, client, wait: float) -> HttpRequest | None:
        """The next whole request; None when the client closed or went quiet."""
        head: h11.Request | None = None
        body = bytearray()
        deadline = trio.current_time() + wait
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                with trio.move_on_at(deadline):
                    data = await stream.receive_some(65536)
                    conn.receive_data(data)
                    if head is None and not data:
                        return None
                    continue
                return None  # timed out
            if isinstance(event, h11.Request):
                head = event
                deadline = trio.current_time() + self.limits.request_timeout
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.limits.max_body:
                    raise _TooLarge()
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.limits.max_body:
                    raise _TooLarge()
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                headers: dict[str, str] = {}
                counts: dict[str, int] = {}
                for name, value in head.headers:
                    key = name.decode("latin-1").lower()
                    headers[key] = value.decode("latin-1")
                    counts[key] = counts.get(key, 0) + 1
                return HttpRequest(head.method.decode("latin-1"), head.target.decode("latin-1"), headers,
                                   bytes(body), client, counts)
            else:  # ConnectionClosed, PAUSED
                return None

    async def _send(self, conn: h11.Connection, stream, response: HttpResponse, head_only: bool) -> None:
        streamed = response.write_body is not None
        length = response.length if streamed else len(response.body)
        headers = [(b"content-type", response.content_type.encode("latin-1")),
                   (b"content-length", str(length).encode()),
                   (b"server", self.server_name.encode("latin-1"))]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        data = conn.send(h11.Response(status_code=response.status, headers=headers))
        timeout = self.limits.send_timeout

        async def write(data: bytes) -> None:
            # The timeout applies to each slice: a large answer to a slow reader that keeps
            # reading is not cut. TooSlowError ends the connection (see `connection`).
            view = memoryview(data)
            for start in range(0, len(view), SEND_SLICE):
                with trio.fail_after(timeout):
                    await stream.send_all(view[start : start + SEND_SLICE])

        if streamed and not head_only:
            await write(data)

            async def send(chunk: bytes) -> None:
                await write(conn.send(h11.Data(data=chunk)))

            await response.write_body(send)
            data = b""
        elif response.body and not head_only:
            data += conn.send(h11.Data(data=response.body))
        data += conn.send(h11.EndOfMessage())
        await write(data)


def _closing(status: int, text: str) -> HttpResponse:
    """An error answer after which the connection closes (the rest of the request is unread)."""
    return HttpResponse(status, text.encode(), headers=[("Connection", "close")])
