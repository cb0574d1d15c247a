"""BEP 55 (ut_holepunch): reaching a peer behind a NAT through a peer connected to both of us.

The messages and the relay's decision are pure (wire/holepunch.py); ``Punches`` (when we may send
a rendezvous or act on a connect: per-peer and per-target limits) is pure too. ``UtHolepunch`` is
the extension and, as a transfer service (``run``), the owner of the tasks it starts:

- relay: a ``rendezvous`` from a connected peer naming another connected peer that speaks
  ut_holepunch gets a ``connect`` to each naming the other; otherwise an ``error`` back
  (NoSuchPeer, NotConnected, NoSupport, NoSelf). Only peers connected right now are named: we
  never relay for an address we merely heard of.
- initiator: when dialing an address the torrent knows (a tracker's, PEX's, --peer) fails
  (the ``on_connect_failed`` hook), a ``rendezvous`` for it goes to a connected peer that speaks
  ut_holepunch.
- on ``connect``: a simultaneous uTP open to the named address (net/utp.py ``punch``); the side
  whose SYN wins does the BitTorrent handshake as the dialer, the other gets it as an incoming
  connection.

Limits: a peer may send ``MAX_MESSAGES_PER_MINUTE`` messages a minute (more closes it); one
target is tried at most once per ``retry_interval``; connects name only usable addresses (PEX's
rules) and are ignored for peers we are connected to already.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio

from torrentish import events as ev
from torrentish.errors import ProtocolError
from torrentish.services.extensions.ut_pex import connected_addresses, listen_address, usable_address
from torrentish.wire import holepunch as hp
from torrentish.wire.extension import UT_HOLEPUNCH

Address = tuple[str, int]
MAX_MESSAGES_PER_MINUTE = 20
RETRY_INTERVAL = 30.0  # seconds between two attempts at one target
PUNCH_TIMEOUT = 10.0  # the SYN and its resends (1 + 2 + 4 s) fit in it


class Punches:
    """Which holepunch steps are allowed now: a flood of messages from one peer, and a target
    tried again too soon, are refused. Pure: the caller gives ``now``."""

    def __init__(self, retry_interval: float = RETRY_INTERVAL, per_minute: int = MAX_MESSAGES_PER_MINUTE):
        self.retry_interval = retry_interval
        self.per_minute = per_minute
        self._received: dict[Any, deque] = {}
        self._tried: dict[tuple[str, Address], float] = {}

    def message_from(self, peer: Any, now: float) -> bool:
        """Count a message from ``peer``; False once it sent more than ``per_minute`` in a minute."""
        times = self._received.setdefault(peer, deque())
        while times and times[0] <= now - 60.0:
            times.popleft()
        times.append(now)
        return len(times) <= self.per_minute

    def may_try(self, step: str, target: Address, now: float) -> bool:
        """True (and remembered) unless ``step`` (rendezvous, connect) was taken for ``target``
        within ``retry_interval``."""
        key = (step, target)
        last = self._tried.get(key)
        if last is not None and now < last + self.retry_interval:
            return False
        if len(self._tried) > 4096:  # forget old attempts rather than grow without bound
            self._tried = {a: t for a, t in self._tried.items() if now < t + self.retry_interval}
        self._tried[key] = now
        return True

    def forget_peer(self, peer: Any) -> None:
        self._received.pop(peer, None)


class UtHolepunch:
    """The ut_holepunch extension of one or more torrents (``run`` is its service for each: it
    owns the torrent's punches)."""

    name = UT_HOLEPUNCH

    def __init__(self, *, retry_interval: float = RETRY_INTERVAL, punch_timeout: float = PUNCH_TIMEOUT):
        self.punch_timeout = punch_timeout
        self.limits = Punches(retry_interval)
        self._nurseries: dict[int, trio.Nursery] = {}  # id(torrent) -> where its punches run
        self._our_ips: set[str] = set()  # as peers see us (their handshakes' yourip)

    # -- extension hooks ---------------------------------------------------------------------
    def handshake_fields(self, torrent: Any) -> dict:
        return {}

    def on_handshake(self, torrent: Any, peer: Any, handshake: Any) -> None:
        yourip = getattr(handshake, "yourip", None)
        if yourip and len(yourip) in (4, 16) and len(self._our_ips) < 16:
            import ipaddress

            self._our_ips.add(str(ipaddress.ip_address(yourip)))

    def on_message(self, torrent: Any, peer: Any, payload: bytes) -> None:
        now = trio.current_time()
        if not self.limits.message_from(peer, now):
            raise ProtocolError(f"ut_holepunch flood: more than {self.limits.per_minute} messages a minute")
        message = hp.decode(payload)
        sender = listen_address(peer) or peer.address
        if message.type == hp.RENDEZVOUS:
            self._relay(torrent, peer, sender, message, now)
        elif message.type == hp.CONNECT:
            self._on_connect(torrent, peer, message.address, now)
        else:
            reason = hp.ERROR_NAMES.get(message.error, f"error {message.error}")
            torrent.events.publish(ev.Holepunch(now, "failed", message.address, sender, reason))

    def on_peer_closed(self, torrent: Any, peer: Any) -> None:
        self.limits.forget_peer(peer)

    # -- relay -------------------------------------------------------------------------------
    def _relay(self, torrent: Any, peer: Any, sender: Address, rendezvous: hp.Holepunch, now: float) -> None:
        by_address = {listen_address(p): p for p in torrent.peers.values() if p is not peer}
        by_address.pop(None, None)
        supports = {address: bool(p.extension_ids.get(self.name)) for address, p in by_address.items()}
        ours = {(ip, torrent.client.announce_port) for ip in self._our_ips}
        sent = hp.relay(rendezvous, sender, supports, ours)
        for to, message in sent:
            torrent.send_extended(peer if to == sender else by_address[to], self.name, hp.encode(message))
        if sent[0][1].type == hp.CONNECT:
            torrent.events.publish(ev.Holepunch(now, "relayed", rendezvous.address, sender))

    # -- initiator ---------------------------------------------------------------------------
    def rendezvous(self, torrent: Any, target: Address, now: float) -> bool:
        """Ask a connected ut_holepunch peer to introduce us to ``target``; False if none can."""
        if torrent.info.private or not self._can_punch(torrent) or target in connected_addresses(torrent.peers.values()):
            return False
        relays = [p for p in torrent.peers.values() if p.extension_ids.get(self.name)]
        if not relays or not self.limits.may_try("rendezvous", target, now):
            return False
        relay = torrent.rng.choice(relays)
        torrent.send_extended(relay, self.name, hp.encode(hp.Holepunch(hp.RENDEZVOUS, target)))
        torrent.events.publish(ev.Holepunch(now, "rendezvous", target, relay.address))
        return True

    # -- target ------------------------------------------------------------------------------
    def _on_connect(self, torrent: Any, relay: Any, address: Address, now: float) -> None:
        nursery = self._nurseries.get(id(torrent))
        if (torrent.info.private or nursery is None or not self._can_punch(torrent)
                or not usable_address(address[0], address[1], relay.address[0])
                or address in connected_addresses(torrent.peers.values())
                or not self.limits.may_try("connect", address, now)):
            return
        torrent.events.publish(ev.Holepunch(now, "connect", address, relay.address))
        nursery.start_soon(self._punch, torrent, address, relay.address)

    @staticmethod
    def _can_punch(torrent: Any) -> bool:
        return getattr(torrent.client.network, "endpoint", None) is not None

    async def _punch(self, torrent: Any, address: Address, via: Address) -> None:
        from torrentish.engine.dialing import dial
        from torrentish.engine.handshake import HandshakeError

        client = torrent.client
        endpoint = client.network.endpoint
        try:
            stream = await endpoint.punch(*address, timeout=self.punch_timeout)
            if stream is None:  # their SYN won: the connection arrives as an incoming one
                torrent.events.publish(ev.Holepunch(trio.current_time(), "connected", address, via))
                return
            dialed = await dial(_Given(stream), address, torrent.info_hash, client.peer_id,
                                policy=client.encryption, rng=client.key_rng,
                                timeout=client.settings.handshake_timeout)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError,
                HandshakeError, ProtocolError) as exc:
            torrent.events.publish(ev.Holepunch(trio.current_time(), "failed", address, via,
                                                str(exc) or type(exc).__name__))
            return
        torrent.events.publish(ev.Holepunch(trio.current_time(), "connected", address, via))
        known = torrent.connector.known.get(address)
        await torrent.serve_peer(dialed.stream, dialed.codec, dialed.handshake, address, True,
                                 dialed.leftover, known, dialed.encryption)

    # -- service -----------------------------------------------------------------------------
    def on_connect_failed(self, torrent: Any, address: Address, now: float) -> None:
        self.rendezvous(torrent, address, now)

    async def run(self, client: Any, torrent: Any) -> None:
        """Transfer service: the nursery of the torrent's punches, while it runs."""
        async with trio.open_nursery() as nursery:
            self._nurseries[id(torrent)] = nursery
            try:
                await trio.sleep_forever()
            finally:
                del self._nurseries[id(torrent)]


class _Given:
    """A Network whose one connection is already open (dialing.dial over a punched stream)."""

    def __init__(self, stream: trio.abc.Stream):
        self._stream: trio.abc.Stream | None = stream

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        stream, self._stream = self._stream, None
        if stream is None:
            raise OSError(f"{host}:{port}: a punched connection cannot be dialed again")
        await trio.lowlevel.checkpoint()
        return stream
