"""What the engine tells the world: small frozen events on a bus that views subscribe to.

The engine never waits for a view: `publish` drops an event for a subscriber whose buffer is full
(and counts the drop) rather than slowing the transfer. Views that need the current state read
`Torrent.status()`, which is always up to date.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio


@dataclass(frozen=True)
class Event:
    time: float


@dataclass(frozen=True)
class CheckingProgress(Event):
    checked: int
    total: int


@dataclass(frozen=True)
class StateChanged(Event):
    state: str  # checking, downloading, seeding, finished, stopped


@dataclass(frozen=True)
class PeerConnected(Event):
    address: tuple[str, int]
    client: str
    outgoing: bool


@dataclass(frozen=True)
class PeerDisconnected(Event):
    address: tuple[str, int]
    reason: str


@dataclass(frozen=True)
class PeerBanned(Event):
    address: tuple[str, int]
    reason: str


@dataclass(frozen=True)
class PieceVerified(Event):
    index: int


@dataclass(frozen=True)
class PieceFailed(Event):
    index: int
    peers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Completed(Event):
    downloaded: int
    elapsed: float


@dataclass(frozen=True)
class Warning(Event):
    message: str


@dataclass
class EventBus:
    buffer: int = 1000
    dropped: int = 0
    _subscribers: list[trio.MemorySendChannel] = field(default_factory=list)

    def subscribe(self) -> trio.MemoryReceiveChannel:
        send, receive = trio.open_memory_channel(self.buffer)
        self._subscribers.append(send)
        return receive

    def publish(self, event: Event) -> None:
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)
