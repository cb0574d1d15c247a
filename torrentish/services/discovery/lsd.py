"""Local Service Discovery (BEP 14) on trio: multicast announces on the LAN, both ways.

    services = [lsd_service()]                 # every LAN interface
    services = [lsd_service(host="10.0.0.5")]  # the interface holding that address

Timing: a torrent is announced the moment it is added, again 2 and 6 seconds later (a lost
datagram must not cost five minutes), then every 5 minutes (BEP 14). When an announce for one
of our torrents comes from a peer we had not heard, we answer with our own announce, at most
once per `answer_gap` seconds per torrent, so a newcomer finds us in one round trip instead of at
our next periodic announce. That is how a fresh `share` reaches a waiting `get` in well under
a second, while libtorrent (which announces on its own schedule) still finds us at once.

Our own announces come back through multicast loopback; the random cookie we send tells them
apart (libtorrent does the same). Everything heard is bounded: datagrams over 1500 bytes are
dropped unread, and the memory of who was heard is a small LRU.
"""

from __future__ import annotations

import random
import socket
import struct
import sys
from collections import OrderedDict
from collections.abc import Sequence

import trio

from torrentish.services.discovery.interfaces import LanInterface, interfaces_for
from torrentish.services.discovery.lsd_protocol import GROUP4, GROUP6, LSD_PORT, LsdError, encode_announces, parse_announce
from torrentish import events as ev
from torrentish.net.receive_errors import datagrams

__all__ = ["AnnounceSchedule", "LocalDiscovery", "lsd_service"]

MULTICAST_TTL = 8  # BEP 14: the groups are wider than a link; routers within a site may pass it
HEARD_MEMORY = 1024
_IP_MULTICAST_ALL = 49  # Linux: deliver only the groups this socket joined (not yet in `socket`)
_IPV6_MULTICAST_ALL = 29


class AnnounceSchedule:
    """When each torrent is due for an announce. Pure: `now` is passed in."""

    def __init__(self, interval: float = 300.0, repeats: Sequence[float] = (2.0, 4.0), answer_gap: float = 5.0):
        self.interval = interval
        self.repeats = tuple(repeats)  # gaps between the first announces of a new torrent
        self.answer_gap = answer_gap
        self._due: dict[bytes, float] = {}
        self._last: dict[bytes, float] = {}
        self._pending_repeats: dict[bytes, list[float]] = {}

    def add(self, info_hash: bytes, now: float) -> None:
        self._due[info_hash] = now
        self._pending_repeats[info_hash] = list(self.repeats)

    def remove(self, info_hash: bytes) -> None:
        for table in (self._due, self._last, self._pending_repeats):
            table.pop(info_hash, None)

    def answer(self, info_hash: bytes, now: float) -> None:
        """Someone new announced this torrent: announce soon, but not twice within answer_gap."""
        if info_hash not in self._due:
            return
        last = self._last.get(info_hash)
        soonest = now if last is None else max(now, last + self.answer_gap)
        self._due[info_hash] = min(self._due[info_hash], soonest)

    def pop_due(self, now: float) -> list[bytes]:
        """The torrents to announce now; each is rescheduled."""
        due = [h for h, when in self._due.items() if when <= now]
        for info_hash in due:
            self._last[info_hash] = now
            repeats = self._pending_repeats.get(info_hash)
            self._due[info_hash] = now + (repeats.pop(0) if repeats else self.interval)
        return due

    def next_time(self) -> float:
        return min(self._due.values(), default=float("inf"))


def _swarms(torrent) -> tuple[bytes, ...]:
    """Every swarm a torrent is in: a hybrid (BEP 52) also by its truncated v2 hash. A metadata
    seeker (a stand-in without an Info) only by the hash it seeks."""
    info = getattr(torrent, "info", None)
    return getattr(info, "swarm_hashes", None) or (torrent.info_hash,)


class LocalDiscovery:
    """LSD for the torrents of one client on the given interfaces."""

    def __init__(
        self,
        client,
        interfaces: Sequence[LanInterface],
        *,
        port: int = LSD_PORT,
        schedule: AnnounceSchedule | None = None,
        rng: random.Random | None = None,
        ipv6: bool = True,
    ):
        self.client = client
        self.interfaces = list(interfaces)
        self.port = port
        self.schedule = schedule or AnnounceSchedule()
        self.cookie = f"{(rng or client.rng).getrandbits(32):08x}"
        self.ipv6 = ipv6
        self.torrents: dict[bytes, object] = {}
        self.sent = 0  # datagrams sent, for tests and status
        self._heard: OrderedDict[tuple[bytes, tuple[str, int]], float] = OrderedDict()
        self._wake = trio.Event()
        self._v4: list[tuple[LanInterface, bytes]] = []  # joined interfaces: (interface, its address)
        self._v6: list[LanInterface] = []
        self._v4_socket = self._v6_socket = None

    def add(self, torrent) -> None:
        for info_hash in _swarms(torrent):
            self.torrents[info_hash] = torrent
            self.schedule.add(info_hash, trio.current_time())
        self._wake.set()

    def remove(self, torrent) -> None:
        for info_hash in _swarms(torrent):
            self.torrents.pop(info_hash, None)
            self.schedule.remove(info_hash)

    # --------------------------------------------------------------------------------- receiving
    def on_datagram(self, data: bytes, source: tuple) -> None:
        """Learn from one datagram: new peers go to their torrents, and get an answer."""
        try:
            announce = parse_announce(data)
        except LsdError:
            return
        if announce.cookie == self.cookie:
            return  # our own, looped back
        now = trio.current_time()
        address = (source[0], announce.port)
        for info_hash in announce.info_hashes:
            torrent = self.torrents.get(info_hash)
            if torrent is None:
                continue
            key = (info_hash, address)
            known = key in self._heard
            self._heard[key] = now
            self._heard.move_to_end(key)
            while len(self._heard) > HEARD_MEMORY:
                self._heard.popitem(last=False)
            if not known:
                torrent.add_peers([address])
                self.client.events.publish(ev.PeersFound(now, "lsd", 1))
                self.schedule.answer(info_hash, now)
                self._wake.set()

    # ----------------------------------------------------------------------------------- running
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Join the groups and serve until cancelled. LSD failing never stops a transfer: it warns."""
        try:
            sockets = await self._open_sockets()
            problem = "no interface accepted the multicast group"
        except OSError as exc:
            sockets, problem = [], f"cannot listen on UDP port {self.port} ({exc.strerror or exc})"
        task_status.started()
        if not sockets:
            self.client.events.publish(ev.Warning(trio.current_time(), f"local peer discovery is off: {problem}"))
            return
        try:
            async with trio.open_nursery() as nursery:
                for sock in sockets:
                    nursery.start_soon(self._receive_loop, sock)
                nursery.start_soon(self._send_loop, sockets)
        finally:
            for sock in sockets:
                sock.close()

    async def _open_sockets(self) -> list:
        sockets = []
        v4 = await self._socket(socket.AF_INET)
        for interface in self.interfaces:
            if interface.ipv4:
                local = socket.inet_aton(interface.ipv4[0])
                try:
                    v4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(GROUP4) + local)
                except OSError:
                    continue
                self._v4.append((interface, local))
        if self._v4:
            v4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
            v4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            self._v4_socket = v4
            sockets.append(v4)
        else:
            v4.close()
        if self.ipv6 and socket.has_ipv6 and any(i.ipv6 and not i.loopback for i in self.interfaces):
            try:
                v6 = await self._socket(socket.AF_INET6)
            except OSError:
                return sockets
            group = socket.inet_pton(socket.AF_INET6, GROUP6)
            for interface in self.interfaces:
                if interface.ipv6 and not interface.loopback:
                    try:
                        v6.setsockopt(
                            socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", interface.index)
                        )
                    except OSError:
                        continue
                    self._v6.append(interface)
            if self._v6:
                v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, MULTICAST_TTL)
                v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
                self._v6_socket = v6
                sockets.append(v6)
            else:
                v6.close()
        return sockets

    async def _socket(self, family: int):
        sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):  # other clients on this machine listen on 6771 too
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sys.platform == "linux":
                level, option = (
                    (socket.IPPROTO_IP, _IP_MULTICAST_ALL)
                    if family == socket.AF_INET
                    else (socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL)
                )
                try:
                    sock.setsockopt(level, option, 0)
                except OSError:
                    pass
            await sock.bind(("0.0.0.0" if family == socket.AF_INET else "::", self.port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _receive_loop(self, sock) -> None:
        async for data, source in datagrams(sock, 2048, "local discovery"):
            self.on_datagram(data, source)

    async def _send_loop(self, sockets: list) -> None:
        while True:
            now = trio.current_time()
            due = self.schedule.pop_due(now)
            if due and self.client.port:
                await self._send(due)
            self._wake = trio.Event()
            with trio.move_on_after(max(0.0, self.schedule.next_time() - trio.current_time())):
                await self._wake.wait()

    async def _send(self, info_hashes: list[bytes]) -> None:
        port = self.client.port
        for _, local in self._v4:
            sock = self._v4_socket
            for packet in encode_announces(port, info_hashes, self.cookie, ipv6=False):
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
                    await sock.sendto(packet, (GROUP4, self.port))
                    self.sent += 1
                except OSError:
                    pass
        for interface in self._v6:
            sock = self._v6_socket
            for packet in encode_announces(port, info_hashes, self.cookie, ipv6=True):
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface.index)
                    await sock.sendto(packet, (GROUP6, self.port, 0, interface.index))
                    self.sent += 1
                except OSError:
                    pass


def lsd_service(host: str | None = None, interfaces: Sequence[LanInterface] | None = None, port: int = LSD_PORT):
    """A transfer service running LSD for the transfer's torrent (never for a private one, BEP 27).

    `interfaces` defaults to those serving `host` (the address the client listens on).
    """

    async def service(client, torrent) -> None:
        if torrent.info.private:
            return
        chosen = interfaces if interfaces is not None else interfaces_for(host)
        discovery = LocalDiscovery(client, chosen, port=port)
        async with trio.open_nursery() as nursery:
            await nursery.start(discovery.run)
            discovery.add(torrent)

    return service
