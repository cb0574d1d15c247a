"""A tracker on trio: HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15) announce and scrape.

    server = TrackerServer(TrackerConfig(interval=120))
    http_port, udp_port = await nursery.start(server.serve, None, 6969)

HTTP is parsed by h11 (a sans-I/O HTTP/1.1 library); this module only moves bytes and routes
`/announce`, `/scrape` and the documents added with `add_file` (the .torrent of a share).

Floods cannot make it grow without bound: swarm memory is capped (`swarms.Swarms`), at most
`max_connections` HTTP connections are served at once (others are closed at once), each with a
deadline and a cap on request size, and UDP connection ids are a keyed hash of the client's
address and the minute, so the UDP side keeps no per-client state at all (and a spoofed source
address never gets a peer list: it cannot know the connection id sent to the real one).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11
import trio

from torrentish.services.tracker import http_protocol as hp
from torrentish.services.tracker import udp_protocol as up
from torrentish.services.tracker.protocol import AnnounceRequest, TrackerError, TrackerFailure
from torrentish.services.tracker.swarms import AnnounceResult, SwarmLimits, Swarms
from torrentish.net.receive_errors import datagrams

__all__ = ["TrackerConfig", "TrackerServer"]

_SERVER_NAME = b"torrentish-tracker"


@dataclass
class TrackerConfig:
    interval: int = 1800  # seconds between a client's announces
    min_interval: int = 30
    limits: SwarmLimits = field(default_factory=SwarmLimits)
    allowed: frozenset[bytes] | None = None  # only these info hashes, when set
    max_connections: int = 256  # HTTP connections served at once
    connection_deadline: float = 30.0  # seconds an HTTP connection may live
    max_requests_per_connection: int = 100
    max_request_bytes: int = 16 * 1024  # request line + headers
    expire_every: float = 60.0


def _client_ip(host: str) -> str:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return host


class TrackerServer:
    def __init__(
        self,
        config: TrackerConfig | None = None,
        rng: random.Random | None = None,
        on_announce: Callable[[AnnounceRequest, str], None] | None = None,
    ):
        self.config = config or TrackerConfig()
        self.rng = rng or random.Random()
        self.swarms = Swarms(self.config.limits, self.rng, self.config.allowed)
        self.files: dict[str, tuple[bytes, bytes]] = {}  # path -> (content type, body)
        self.on_announce = on_announce  # told about every accepted announce (request, client ip)
        self.connections = 0  # HTTP connections being served
        self.refused_connections = 0
        self._secret = self.rng.randbytes(16)

    def add_file(self, path: str, body: bytes, content_type: bytes = b"application/x-bittorrent") -> None:
        """Serve `body` at `path` over HTTP (e.g. the .torrent a share hands out)."""
        self.files[path] = (content_type, body)

    # ------------------------------------------------------------------------------ the protocol
    def announce(self, request: AnnounceRequest, ip: str, now: float) -> AnnounceResult:
        """Record an announce from `ip`; raises TrackerFailure when refused."""
        result = self.swarms.announce(
            request.info_hash, request.peer_id, ip, request.port, request.left, request.event, request.numwant, now
        )
        if self.on_announce is not None:
            self.on_announce(request, ip)
        return result

    def http_reply(self, target: bytes, client_host: str, now: float) -> tuple[int, bytes, bytes]:
        """(status, content type, body) for a GET of `target` from `client_host`."""
        path, _, query = target.partition(b"?")
        path_text = path.decode("latin-1")
        last = path_text.rsplit("/", 1)[-1]
        if path_text in self.files:
            content_type, body = self.files[path_text]
            return 200, content_type, body
        text = b"text/plain"
        try:
            if last == "announce":
                request = hp.parse_announce_query(query)
                result = self.announce(request, _client_ip(client_host), now)
                return (
                    200,
                    text,
                    hp.encode_announce_reply(
                        interval=self.config.interval,
                        min_interval=self.config.min_interval,
                        peers=result.peers,
                        compact=request.compact,
                        no_peer_id=request.no_peer_id,
                        complete=result.complete,
                        incomplete=result.incomplete,
                    ),
                )
            if last == "scrape":
                hashes = hp.parse_scrape_query(query)
                return 200, text, hp.encode_scrape_reply({h: self.swarms.scrape(h, now) for h in hashes})
        except TrackerError as exc:
            return 200, text, hp.encode_failure(str(exc))
        return 404, text, b"not found\n"

    def udp_reply(self, data: bytes, address: tuple, now: float) -> bytes | None:
        """The reply to one datagram from `address`, or None to stay silent."""
        try:
            message = up.parse_request(data)
        except TrackerError as exc:
            if len(data) >= 16:  # it has a transaction id we can answer to
                return up.encode_error(int.from_bytes(data[12:16], "big"), str(exc))
            return None
        host = address[0]
        if isinstance(message, up.ConnectRequest):
            return up.encode_connect_reply(message.transaction_id, self._connection_id(host, now, 0))
        tid = message.transaction_id
        if message.connection_id not in (self._connection_id(host, now, 0), self._connection_id(host, now, 1)):
            return up.encode_error(tid, "connection id expired or unknown: connect again")
        try:
            if isinstance(message, up.UdpAnnounce):
                ip = _client_ip(host)
                result = self.announce(message.request, ip, now)
                ipv6 = ipaddress.ip_address(ip.split("%", 1)[0]).version == 6
                peers = [(p_ip, p_port) for p_ip, p_port, _ in result.peers]
                return up.encode_announce_reply(
                    tid, self.config.interval, result.incomplete, result.complete, peers, ipv6
                )
            return up.encode_scrape_reply(tid, [self.swarms.scrape(h, now) for h in message.info_hashes])
        except TrackerFailure as exc:
            return up.encode_error(tid, str(exc))

    def _connection_id(self, host: str, now: float, minutes_ago: int) -> int:
        """Valid for the minute it was made in and the next one (BEP 15 asks for 2 minutes).

        Tied to the address only, not the port: clients may use a new socket per request."""
        epoch = int(now // 60) - minutes_ago
        digest = hashlib.blake2b(f"{host}|{epoch}".encode(), key=self._secret, digest_size=8)
        return int.from_bytes(digest.digest(), "big")

    # ------------------------------------------------------------------------------- transports
    async def serve(
        self,
        host: str | None,
        port: int,
        *,
        http: bool = True,
        udp: bool = True,
        task_status=trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve HTTP (TCP) and/or UDP on `port` of `host` (None: every address).

        Reports (http_port, udp_port) through task_status, 0 for a transport left off. With
        port 0 both get the same port when it is free on both. The sockets are bound before
        anything starts, so a port in use raises a plain OSError.
        """
        listeners = await trio.open_tcp_listeners(port, host=host) if http else []
        http_port = listeners[0].socket.getsockname()[1] if listeners else 0
        try:
            try:
                sockets = await _udp_sockets(host, http_port or port) if udp else []
            except OSError:
                if port or not http_port:
                    raise
                sockets = await _udp_sockets(host, 0)  # our TCP port is taken for UDP: any will do
        except BaseException:
            for listener in listeners:
                await listener.aclose()
            raise
        udp_port = sockets[0].getsockname()[1] if sockets else 0
        async with trio.open_nursery() as nursery:
            if listeners:
                nursery.start_soon(trio.serve_listeners, self._http_connection, listeners)
            for sock in sockets:
                nursery.start_soon(self._udp_loop, sock)
            nursery.start_soon(self._expire_loop)
            task_status.started((http_port, udp_port))

    async def _expire_loop(self) -> None:
        while True:
            await trio.sleep(self.config.expire_every)
            self.swarms.expire(trio.current_time())

    async def _http_connection(self, stream: trio.SocketStream) -> None:
        if self.connections >= self.config.max_connections:
            self.refused_connections += 1
            await trio.aclose_forcefully(stream)
            return
        self.connections += 1
        try:
            client_host = stream.socket.getpeername()[0]
            with trio.move_on_after(self.config.connection_deadline):
                await self._http_requests(stream, client_host)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.connections -= 1
            await trio.aclose_forcefully(stream)

    async def _http_requests(self, stream: trio.SocketStream, client_host: str) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.config.max_request_bytes)
        for _ in range(self.config.max_requests_per_connection):
            try:
                request = await self._next_request(conn, stream)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(conn, stream, exc.error_status_hint, b"text/plain", b"bad request\n")
                return
            if request is None:
                return
            if request.method not in (b"GET", b"HEAD"):
                status, content_type, body = 405, b"text/plain", b"only GET\n"
            else:
                target = request.target
                if not target.startswith(b"/"):  # absolute-form target
                    target = (
                        urlsplit(target.decode("latin-1"))._replace(scheme="", netloc="").geturl().encode("latin-1")
                    )
                status, content_type, body = self.http_reply(target, client_host, trio.current_time())
            await self._send(conn, stream, status, content_type, body if request.method == b"GET" else b"")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next_request(self, conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
        """The next request, its (ignored, bounded) body read; None when the client is done."""
        request = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(16384)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                if len(event.data) > self.config.max_request_bytes:
                    raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _send(self, conn: h11.Connection, stream, status: int, content_type: bytes, body: bytes) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"server", _SERVER_NAME),
        ]
        data = conn.send(h11.Response(status_code=status, headers=headers))
        data += conn.send(h11.Data(data=body)) if body else b""
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)

    async def _udp_loop(self, sock) -> None:
        with sock:
            async for data, address in datagrams(sock, 2048, "tracker (UDP)"):
                reply = self.udp_reply(data, address, trio.current_time())
                if reply is not None:
                    try:
                        await sock.sendto(reply, address)
                    except OSError:
                        pass


async def _udp_sockets(host: str | None, port: int) -> list:
    """One socket for an address; for None one IPv4 and (if the system has it) one IPv6 socket."""
    if host is not None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        await sock.bind((host, port))
        return [sock]
    v4 = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await v4.bind(("0.0.0.0", port))
    sockets = [v4]
    try:
        v6 = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        await v6.bind(("::", v4.getsockname()[1]))
        sockets.append(v6)
    except OSError:
        pass
    return sockets
