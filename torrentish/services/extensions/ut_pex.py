"""BEP 11 (ut_pex): telling connected peers whom else we are connected to, and learning theirs.

- the message format (``encode_pex`` / ``decode_pex``) and ``PexDiff`` (what to tell one peer
  next: added since the last message, dropped since then) are pure;
- ``UtPex`` is the extension. Sending runs on a timer, so it is also a transfer service
  (``UtPex.run``); each peer hears from us at most once a minute, and only when something changed.

Safety (BEP 11's security section): we only ever send addresses of peers we are connected to
right now (never ones we merely heard of), with the port they listen on; addresses learned from a
peer are filtered (``usable_address``: no unspecified, multicast, reserved or port-0 junk; no
loopback or LAN addresses from a peer that is not itself local), a message may name at most
``MAX_ENTRIES_IN`` contacts per list, one peer may teach us at most ``max_learned_per_peer``
addresses per connection, and a peer sending more than ``MAX_MESSAGES_PER_MINUTE`` messages a
minute is disconnected. Private torrents (BEP 27) neither send nor learn.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torrentish.formats import bencoding
from torrentish.formats.compact import IPV6_WIDTH, dialable, is_local, pack_address, unpack_addresses
from torrentish.errors import BencodeError, ProtocolError
from torrentish.wire.extension import UT_PEX

__all__ = [
    "FLAG_ENCRYPTION",
    "FLAG_SEED",
    "FLAG_UTP",
    "FLAG_HOLEPUNCH",
    "FLAG_REACHABLE",
    "MAX_ENTRIES_OUT",
    "MAX_ENTRIES_IN",
    "PexPeer",
    "PexMessage",
    "encode_pex",
    "decode_pex",
    "usable_address",
    "PexDiff",
    "UtPex",
    "listen_address",
    "connected_addresses",
]

FLAG_ENCRYPTION = 0x01
FLAG_SEED = 0x02
FLAG_UTP = 0x04
FLAG_HOLEPUNCH = 0x08
FLAG_REACHABLE = 0x10  # we connected out to it

MAX_ENTRIES_OUT = 50  # BEP 11: at most 50 added and 50 dropped per message
MAX_ENTRIES_IN = 200  # more than this in one list is a broken or hostile peer (libtorrent sends <= 100)
MAX_MESSAGES_PER_MINUTE = 3  # BEP 11 asks for one; some slack for reconnects and clock skew
_PEX_LIMITS = bencoding.Limits(max_size=64 * 1024, max_depth=4, max_items=256, max_int_digits=20)

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PexPeer:
    host: str
    port: int
    flags: int = 0

    @property
    def address(self) -> Address:
        return (self.host, self.port)


@dataclass(frozen=True, slots=True)
class PexMessage:
    added: tuple[PexPeer, ...] = ()
    dropped: tuple[Address, ...] = ()


def encode_pex(message: PexMessage) -> bytes:
    """The payload of a ut_pex EXTENDED message. Hosts must be IP literals."""
    out: dict[str, bytearray] = {k: bytearray() for k in ("added", "added.f", "added6", "added6.f", "dropped", "dropped6")}
    for peer in message.added:
        packed = pack_address(peer.host, peer.port)
        v6 = len(packed) == IPV6_WIDTH
        out["added6" if v6 else "added"] += packed
        out["added6.f" if v6 else "added.f"].append(peer.flags & 0xFF)
    for host, port in message.dropped:
        packed = pack_address(host, port)
        out["dropped6" if len(packed) == IPV6_WIDTH else "dropped"] += packed
    return bencoding.encode({key: bytes(value) for key, value in out.items()})


def _unpack(raw: Any, key: str, size: int) -> list[Address]:
    if raw is None:
        return []
    if not isinstance(raw, bytes):
        raise ProtocolError(f"ut_pex {key!r} is not a string")
    if len(raw) % size:
        raise ProtocolError(f"ut_pex {key!r} is {len(raw)} bytes, not a multiple of {size}")
    if len(raw) // size > MAX_ENTRIES_IN:
        raise ProtocolError(f"ut_pex {key!r} lists {len(raw) // size} peers (limit {MAX_ENTRIES_IN})")
    return unpack_addresses(raw, size)


def _flags(raw: Any, count: int) -> bytes:
    # BEP 11 makes flags optional; a list of the wrong length tells us nothing reliable.
    return raw if isinstance(raw, bytes) and len(raw) == count else bytes(count)


def decode_pex(payload: bytes) -> PexMessage:
    """Read a ut_pex payload (duplicates removed, order kept); ProtocolError if malformed."""
    try:
        value = bencoding.decode(payload, _PEX_LIMITS)
    except BencodeError as error:
        raise ProtocolError(f"ut_pex message: {error}") from None
    if not isinstance(value, dict):
        raise ProtocolError("ut_pex message is not a dictionary")
    added: dict[Address, int] = {}
    for key, size in ((b"added", 6), (b"added6", 18)):
        addresses = _unpack(value.get(key), key.decode(), size)
        for address, flags in zip(addresses, _flags(value.get(key + b".f"), len(addresses))):
            added.setdefault(address, flags)
    dropped: dict[Address, None] = {}
    for key, size in ((b"dropped", 6), (b"dropped6", 18)):
        for address in _unpack(value.get(key), key.decode(), size):
            dropped.setdefault(address, None)
    return PexMessage(
        added=tuple(PexPeer(host, port, flags) for (host, port), flags in added.items()),
        dropped=tuple(dropped),
    )


def usable_address(host: str, port: int, other_side: str) -> bool:
    """Whether ``host:port`` is worth passing between us and the peer at ``other_side``.

    Refused: port 0, non-IP hosts, unspecified/multicast/reserved/broadcast addresses, and local
    (loopback, private, link-local) addresses when the other side is not local itself.
    """
    address = dialable(host, port)
    if address is None:
        return False
    if is_local(address[0]):
        if not is_local(other_side):
            return False
        if _is_loopback(address[0]) and not _is_loopback(other_side):
            return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PexDiff:
    """What one peer has been told: the next message is the difference to what is true now."""

    def __init__(self, max_entries: int = MAX_ENTRIES_OUT):
        self.max_entries = max_entries
        self._told: dict[Address, int] = {}  # address -> flags we sent it with

    def update(self, current: Mapping[Address, int]) -> PexMessage | None:
        """The message to send for the connected set ``current`` (None: nothing changed)."""
        added = [PexPeer(host, port, flags) for (host, port), flags in current.items() if (host, port) not in self._told]
        dropped = [address for address in self._told if address not in current]
        added, dropped = added[: self.max_entries], dropped[: self.max_entries]
        if not added and not dropped:
            return None
        for address in dropped:
            del self._told[address]
        for peer in added:
            self._told[peer.address] = peer.flags
        return PexMessage(tuple(added), tuple(dropped))


@dataclass
class _PeerState:
    diff: PexDiff
    next_send: float = 0.0
    received: deque = field(default_factory=deque)  # times of recent messages from the peer
    learned: int = 0


class UtPex:
    """The ut_pex extension of one or more torrents; ``run`` is its sending service."""

    name = UT_PEX

    def __init__(self, *, interval: float = 60.0, tick: float = 1.0, max_learned_per_peer: int = 200):
        self.interval = interval
        self.tick = tick
        self.max_learned_per_peer = max_learned_per_peer
        self._states: dict[Any, _PeerState] = {}  # peer connection -> what it was told

    # -- extension hooks ---------------------------------------------------------------------
    def handshake_fields(self, torrent: Any) -> dict:
        return {}

    def on_handshake(self, torrent: Any, peer: Any, handshake: Any) -> None:
        if torrent.info.private or peer in self._states or not peer.extension_ids.get(self.name):
            return
        self._states[peer] = _PeerState(PexDiff())

    def on_message(self, torrent: Any, peer: Any, payload: bytes) -> None:
        if torrent.info.private:
            return
        import trio

        now = trio.current_time()
        state = self._states.setdefault(peer, _PeerState(PexDiff(), next_send=now + self.interval))
        while state.received and state.received[0] <= now - 60.0:
            state.received.popleft()
        if len(state.received) >= MAX_MESSAGES_PER_MINUTE:
            raise ProtocolError(f"ut_pex flood: more than {MAX_MESSAGES_PER_MINUTE} messages a minute")
        state.received.append(now)
        message = decode_pex(payload)
        learned = self.learn(message, peer.address[0], self.max_learned_per_peer - state.learned)
        state.learned += len(learned)
        if learned:
            torrent.add_peers(learned)
            from torrentish import events as ev

            torrent.events.publish(ev.PeersFound(now, "pex", len(learned)))

    def on_peer_closed(self, torrent: Any, peer: Any) -> None:
        self._states.pop(peer, None)

    @staticmethod
    def learn(message: PexMessage, sender_host: str, budget: int) -> list[Address]:
        """The usable new addresses of a message from the peer at ``sender_host``, at most ``budget``.

        One port per IP address (BEP 11: duplicate IPs are ignored), except on loopback, where
        every local peer shares the address.
        """
        out: list[Address] = []
        seen_ips: set[str] = set()
        for peer in message.added:
            if len(out) >= min(budget, MAX_ENTRIES_OUT):
                break
            if not usable_address(peer.host, peer.port, sender_host):
                continue
            if peer.host in seen_ips and not ipaddress.ip_address(peer.host).is_loopback:
                continue
            seen_ips.add(peer.host)
            out.append(peer.address)
        return out

    # -- sending -----------------------------------------------------------------------------
    async def run(self, client: Any, torrent: Any) -> None:
        """Transfer service: check every ``tick`` which peers are due a message."""
        import trio

        while True:
            self.send_due(torrent, trio.current_time())
            await trio.sleep(self.tick)

    def send_due(self, torrent: Any, now: float) -> None:
        if torrent.info.private:
            return
        current = connected_addresses(torrent.peers.values())
        for peer in list(torrent.peers.values()):
            state = self._states.get(peer)
            if state is None or now < state.next_send:
                continue
            visible = {
                address: flags
                for address, flags in current.items()
                if address != listen_address(peer) and usable_address(address[0], address[1], peer.address[0])
            }
            message = state.diff.update(visible)
            if message is not None and torrent.send_extended(peer, self.name, encode_pex(message)):
                state.next_send = now + self.interval


def listen_address(peer: Any) -> Address | None:
    """Where the peer accepts connections: the address we dialed, or its handshake's 'p'."""
    if peer.outgoing:
        return peer.address
    if peer.listen_port:
        return (peer.address[0], peer.listen_port)
    return None


def connected_addresses(peers: Iterable[Any]) -> dict[Address, int]:
    """The connected peers we can vouch for, with their BEP 11 flags."""
    out: dict[Address, int] = {}
    for peer in peers:
        address = listen_address(peer)
        if address is None:
            continue  # it dialed us and never said where it listens: nothing to pass on
        out[address] = (FLAG_SEED if peer.is_seed else 0) | (FLAG_REACHABLE if peer.outgoing else 0)
    return out
