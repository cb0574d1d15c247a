"""What the engine tells the world: small frozen events on a bus that views subscribe to.

The engine never waits for a view: `publish` drops an event for a subscriber whose buffer is full
(and counts the drop) rather than slowing the transfer. Views that need the current state read
`Torrent.status()`, which is always up to date.

Every event type has a `kind`, the name it carries in the JSON event stream (docs/events.md). A new
event type needs a `kind` and an entry in docs/events.schema.json; tests/test_json_events.py checks
both. `time` is trio's clock (`trio.current_time()`), not the wall clock.

Addresses are `(host, port)` tuples. Services outside the engine (trackers, DHT, local discovery,
port mapping, web seeds) publish `TrackerReply`, `TrackerFailed`, `WebSeedFailed`, `PeersFound`, `PortMapped` and
`PortMappingFailed` on the same bus; a session (many torrents on one bus) adds `TorrentAdded`,
`TorrentRemoved` and `TorrentError`, which name their torrent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import trio

Address = tuple[str, int]


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    time: float


@dataclass(frozen=True)
class CheckingProgress(Event):
    """Existing data being hashed at start: `checked` of `total` candidate pieces."""

    kind: ClassVar[str] = "checking"
    checked: int
    total: int


@dataclass(frozen=True)
class StateChanged(Event):
    kind: ClassVar[str] = "state"
    state: str  # checking, downloading, seeding, finished, stopped


@dataclass(frozen=True)
class Progress(Event):
    """Once a second while the torrent runs and this changes (an idle torrent's says nothing
    new, so it is not repeated): where the transfer stands."""

    kind: ClassVar[str] = "progress"
    done: int  # verified bytes of the wanted files
    total: int  # bytes of the wanted files
    downloaded: int  # payload bytes received this session (including waste)
    uploaded: int
    down_rate: float  # bytes/s, over the last few seconds
    up_rate: float
    peers: int  # connected


@dataclass(frozen=True)
class PeerConnected(Event):
    kind: ClassVar[str] = "peer_connected"
    address: Address
    client: str
    outgoing: bool
    # "rc4", "mse-plaintext" (MSE obfuscated the handshake, the payload is plaintext) or "none"
    encryption: str = "none"
    transport: str = "tcp"  # or "utp"


@dataclass(frozen=True)
class PeerDisconnected(Event):
    kind: ClassVar[str] = "peer_disconnected"
    address: Address
    reason: str
    downloaded: int = 0  # payload bytes this connection brought us
    uploaded: int = 0  # and that we sent on it


@dataclass(frozen=True)
class ConnectFailed(Event):
    """Dialing a known address did not end in a handshake."""

    kind: ClassVar[str] = "connect_failed"
    address: Address
    reason: str


@dataclass(frozen=True)
class PeerBanned(Event):
    kind: ClassVar[str] = "peer_banned"
    address: Address
    reason: str


@dataclass(frozen=True)
class PieceVerified(Event):
    kind: ClassVar[str] = "piece_verified"
    index: int


@dataclass(frozen=True)
class PieceFailed(Event):
    kind: ClassVar[str] = "piece_failed"
    index: int
    peers: tuple[Address, ...]  # who contributed blocks to the bad piece


@dataclass(frozen=True)
class Completed(Event):
    """Every wanted piece is verified and on disk."""

    kind: ClassVar[str] = "completed"
    downloaded: int  # bytes verified this session
    elapsed: float  # seconds since the torrent started


@dataclass(frozen=True)
class TrackerReply(Event):
    """An announce answered. `seeders`/`leechers` are the tracker's counts of the whole swarm."""

    kind: ClassVar[str] = "tracker_reply"
    url: str
    peers: int  # addresses received
    seeders: int | None
    leechers: int | None
    interval: float  # seconds until the next announce


@dataclass(frozen=True)
class TrackerFailed(Event):
    kind: ClassVar[str] = "tracker_failed"
    url: str
    reason: str


@dataclass(frozen=True)
class WebSeedFailed(Event):
    """A web seed (BEP 19) request failed; never fatal. `dropped`: the server is used no more."""

    kind: ClassVar[str] = "web_seed_failed"
    url: str
    reason: str
    dropped: bool


@dataclass(frozen=True)
class PeersFound(Event):
    """Addresses from a discovery source other than a tracker (dht, pex, lsd, magnet, ...)."""

    kind: ClassVar[str] = "peers_found"
    source: str
    count: int


@dataclass(frozen=True)
class Holepunch(Event):
    """A BEP 55 step: `rendezvous` sent through `via` to reach `address`; `relayed` (we were the
    relay: connect sent to both); `connect` (told to open to `address`, we do); `connected`;
    `failed` (`reason`: the BEP's error name, or what the uTP open said)."""

    kind: ClassVar[str] = "holepunch"
    stage: str
    address: Address
    via: Address | None = None
    reason: str = ""


@dataclass(frozen=True)
class PortMapped(Event):
    """The NAT gateway forwards `external_port` to our `internal_port` (new, or changed on renewal)."""

    kind: ClassVar[str] = "port_mapped"
    protocol: str  # upnp, natpmp, pcp
    transport: str  # tcp, udp
    internal_port: int
    external_address: str | None  # the gateway's public address, if it said
    external_port: int
    lifetime: int  # seconds until the lease ends unless renewed; 0: until removed


@dataclass(frozen=True)
class PortMappingFailed(Event):
    """A port mapping step failed: finding a gateway, mapping, renewing or removing. Never fatal."""

    kind: ClassVar[str] = "port_mapping_failed"
    protocol: str  # upnp, natpmp, pcp
    transport: str | None  # tcp, udp; None when no mapping was attempted (no gateway found)
    reason: str


@dataclass(frozen=True)
class Warning(Event):  # noqa: A001 - read as ev.Warning
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class TorrentAdded(Event):
    """A session took a torrent on (torrentish/session). `info_hash` in hex."""

    kind: ClassVar[str] = "torrent_added"
    id: int
    info_hash: str
    name: str


@dataclass(frozen=True)
class TorrentRemoved(Event):
    kind: ClassVar[str] = "torrent_removed"
    id: int
    info_hash: str


@dataclass(frozen=True)
class TorrentError(Event):
    """A session's torrent stopped on an error of its own (a full disk, bad metadata, a bug);
    the session's other torrents go on."""

    kind: ClassVar[str] = "torrent_error"
    id: int
    info_hash: str
    message: str


def event_types() -> list[type[Event]]:
    """Every concrete event type, for the JSON schema and its tests."""
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@dataclass
class EventBus:
    buffer: int = 1000
    dropped: int = 0  # over all subscribers
    _subscribers: list[trio.MemorySendChannel] = field(default_factory=list)
    _drops: dict[int, int] = field(default_factory=dict)  # id(receive channel) -> events it missed
    _receiver_of: dict[int, int] = field(default_factory=dict)  # id(send channel) -> id(receive)

    def subscribe(self, buffer: int | None = None) -> trio.MemoryReceiveChannel:
        """A channel that receives every event published from now on. Close it when done."""
        send, receive = trio.open_memory_channel(buffer or self.buffer)
        self._subscribers.append(send)
        self._receiver_of[id(send)] = id(receive)
        self._drops[id(receive)] = 0
        return receive

    def dropped_for(self, receive: trio.MemoryReceiveChannel) -> int:
        """Events this subscriber missed because its buffer was full."""
        return self._drops.get(id(receive), 0)

    def publish(self, event: Event) -> None:
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
                receiver = self._receiver_of.get(id(channel))
                if receiver is not None:
                    self._drops[receiver] += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)
                self._drops.pop(self._receiver_of.pop(id(channel), -1), None)
