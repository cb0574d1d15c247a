"""Announce and scrape over UDP (BEP 15) on trio.

Each request gets its own connected UDP socket: the kernel then drops datagrams from any other
source, and an ICMP "port unreachable" surfaces at once as a refused connection instead of a
long timeout. Retransmission follows BEP 15 (`timeout * 2**n`), with the base timeout and the
number of attempts left to the caller: BEP 15's 15 s base and 9 attempts (over an hour) suit a
daemon, not a LAN share, so the announcer passes shorter ones.

Connection ids are cached per tracker address for one minute, as BEP 15 allows.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import trio

from torrentish.services.tracker import udp_protocol as up
from torrentish.services.tracker.protocol import AnnounceRequest, AnnounceResponse, ScrapeStats, TrackerError, TrackerFailure

__all__ = ["UdpTrackerClient", "parse_udp_url"]

T = TypeVar("T")
CONNECTION_TTL = 60.0


def parse_udp_url(url: str) -> tuple[str, int]:
    """(host, port) of udp://host:port[/path]; raises TrackerError."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise TrackerError(f"{url[:80]}: {exc}") from None
    if parts.scheme != "udp" or not host or not port:
        raise TrackerError(f"{url[:80]}: a UDP tracker URL is udp://HOST:PORT")
    return host, port


class UdpTrackerClient:
    def __init__(self, rng: random.Random, *, timeout: float = 15.0, attempts: int = 9):
        self.rng = rng
        self.timeout = timeout
        self.attempts = attempts
        self._connections: dict[tuple, tuple[int, float]] = {}  # address -> (connection id, when)

    async def announce(self, url: str, request: AnnounceRequest) -> AnnounceResponse:
        async with await self._socket(url) as (sock, address):
            ipv6 = sock.family == socket.AF_INET6
            return await self._connected_exchange(
                sock,
                address,
                lambda cid, tid: up.encode_announce(cid, tid, request),
                lambda data, tid: up.parse_announce_reply(data, tid, ipv6),
            )

    async def scrape(self, url: str, info_hashes: Sequence[bytes]) -> dict[bytes, ScrapeStats]:
        async with await self._socket(url) as (sock, address):
            return await self._connected_exchange(
                sock,
                address,
                lambda cid, tid: up.encode_scrape(cid, tid, info_hashes),
                lambda data, tid: up.parse_scrape_reply(data, tid, info_hashes),
            )

    async def _connected_exchange(
        self, sock, address: tuple, make: Callable[[int, int], bytes], parse: Callable[[bytes, int], T]
    ) -> T:
        """Get (or reuse) a connection id, then the request. A cached id the tracker no longer
        accepts (it may tie ids to our source port, which changes per request) earns one fresh
        connect and a second try."""
        cached = self._connections.get(address)
        if cached is not None and trio.current_time() - cached[1] < CONNECTION_TTL:
            try:
                return await self._exchange(sock, address, lambda tid: make(cached[0], tid), parse)
            except TrackerFailure:
                self._connections.pop(address, None)
        cid = await self._exchange(sock, address, up.encode_connect, up.parse_connect_reply)
        self._connections[address] = (cid, trio.current_time())
        return await self._exchange(sock, address, lambda tid: make(cid, tid), parse)

    async def _socket(self, url: str) -> _ConnectedSocket:
        host, port = parse_udp_url(url)
        try:
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise TrackerError(f"{host}: cannot resolve ({exc.strerror or exc})") from None
        if not infos:
            raise TrackerError(f"{host}: no address")
        family, _, _, _, address = infos[0]
        return _ConnectedSocket(family, address, f"{host}:{port}")

    async def _exchange(
        self, sock, address: tuple, make: Callable[[int], bytes], parse: Callable[[bytes, int], T]
    ) -> T:
        """Send, wait `timeout * 2**n`, resend; return the first valid reply with our transaction id."""
        tid = self.rng.getrandbits(32)
        datagram = make(tid)
        where = f"udp://{address[0]}:{address[1]}"
        for attempt in range(self.attempts):
            try:
                await sock.send(datagram)
                with trio.move_on_after(self.timeout * 2**attempt):
                    while True:
                        data = await sock.recv(up.MAX_DATAGRAM)
                        try:
                            _, got = up.reply_header(data)
                        except TrackerError:
                            continue  # a runt datagram: not our reply
                        if got != tid:
                            continue  # a late reply to an earlier request
                        return parse(data, tid)
            except OSError as exc:
                raise TrackerError(f"{where}: {exc.strerror or exc}") from None
        raise TrackerError(f"{where}: no reply after {self.attempts} attempts")


class _ConnectedSocket:
    """A UDP socket connected to the tracker, closed on exit; yields (socket, address)."""

    def __init__(self, family: int, address: tuple, label: str):
        self.family = family
        self.address = address
        self.label = label
        self.sock = trio.socket.socket(family, socket.SOCK_DGRAM)

    async def __aenter__(self) -> tuple:
        try:
            await self.sock.connect(self.address)
        except OSError as exc:
            self.sock.close()
            raise TrackerError(f"{self.label}: {exc.strerror or exc}") from None
        return self.sock, self.address

    async def __aexit__(self, *exc_info) -> None:
        self.sock.close()
