"""A tracker on trio: HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15) announce and scrape.

    server = TrackerServer(TrackerConfig(interval=120))
    http_port, udp_port = await nursery.start(server.serve, None, 6969)

HTTP is served by net/http_server.py (h11 on trio, bounded); this module only routes
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

import trio

from torrentish.net.http_server import HttpLimits, HttpRequest, HttpResponse, HttpServer
from torrentish.services.tracker import http_protocol as hp
from torrentish.services.tracker import udp_protocol as up
from torrentish.services.tracker.protocol import AnnounceRequest, TrackerError, TrackerFailure
from torrentish.services.tracker.swarms import AnnounceResult, SwarmLimits, Swarms
from torrentish.net.receive_errors import datagrams

__all__ = ["TrackerConfig", "TrackerServer"]

_SERVER_NAME = "torrentish-tracker"


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
        self.http = HttpServer(self._http_request, HttpLimits(
            max_connections=self.config.max_connections,
            max_header_bytes=self.config.max_request_bytes,
            max_body=self.config.max_request_bytes,
            request_timeout=self.config.connection_deadline,
            idle_timeout=self.config.connection_deadline,
            max_requests_per_connection=self.config.max_requests_per_connection,
            connection_deadline=self.config.connection_deadline,
        ), server_name=_SERVER_NAME)
        self._secret = self.rng.randbytes(16)

    @property
    def connections(self) -> int:
        """HTTP connections being served."""
        return self.http.connections

    @property
    def refused_connections(self) -> int:
        return self.http.refused_connections

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
                nursery.start_soon(trio.serve_listeners, self.http.connection, listeners)
            for sock in sockets:
                nursery.start_soon(self._udp_loop, sock)
            nursery.start_soon(self._expire_loop)
            task_status.started((http_port, udp_port))

    async def _expire_loop(self) -> None:
        while True:
            await trio.sleep(self.config.expire_every)
            self.swarms.expire(trio.current_time())

    async def _http_request(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, b"only GET\n")
        target = request.target
        if not target.startswith("/"):  # absolute-form target
            target = urlsplit(target)._replace(scheme="", netloc="").geturl()
        status, content_type, body = self.http_reply(target.encode("latin-1"), request.client[0], trio.current_time())
        return HttpResponse(status, body, content_type=content_type.decode("latin-1"))

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
