"""What the views learn over a run, folded from engine events and status snapshots.

Pure bookkeeping (no trio, no terminal): the live view reads it for the swarm line, the closing
summary for "peers used", and the tests feed it fixed event sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torrentish import events as ev
from torrentish.engine.status import TorrentStatus
from torrentish.ui.logs import format_address, plain_reason


@dataclass
class PeerTally:
    client: str = ""
    closed_down: int = 0  # bytes over connections that have ended
    closed_up: int = 0
    live_down: int = 0  # bytes over the current connection, from the latest snapshot
    live_up: int = 0
    connected: bool = False

    @property
    def downloaded(self) -> int:
        return self.closed_down + self.live_down

    @property
    def uploaded(self) -> int:
        return self.closed_up + self.live_up


@dataclass
class Ledger:
    peers: dict[tuple[str, int], PeerTally] = field(default_factory=dict)
    trackers: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # url -> (seeders, leechers)
    tracker_errors: dict[str, str] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)  # discovery source -> addresses received
    failed_pieces: int = 0
    banned: int = 0
    last_connect_error: str | None = None  # why the latest dial failed ("address: reason")
    completed_at: float | None = None  # seconds after start (Completed.elapsed)
    reachable_at: str | None = None  # "address:port" the NAT gateway forwards to us (TCP port mapping)
    last: TorrentStatus | None = None  # the latest snapshot seen

    def apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.PeerConnected):
            tally = self.peers.setdefault(event.address, PeerTally())
            tally.client = event.client
            tally.connected = True
        elif isinstance(event, ev.PeerDisconnected):
            tally = self.peers.setdefault(event.address, PeerTally())
            tally.closed_down += event.downloaded
            tally.closed_up += event.uploaded
            tally.live_down = tally.live_up = 0
            tally.connected = False
        elif isinstance(event, ev.ConnectFailed):
            self.last_connect_error = f"{format_address(event.address)}: {plain_reason(event.reason)}"
        elif isinstance(event, ev.TrackerReply):
            self.trackers[event.url] = (event.seeders, event.leechers)
            self.tracker_errors.pop(event.url, None)
            self.found[event.url] = self.found.get(event.url, 0) + event.peers
        elif isinstance(event, ev.TrackerFailed):
            self.tracker_errors[event.url] = event.reason
        elif isinstance(event, ev.PeersFound):
            self.found[event.source] = self.found.get(event.source, 0) + event.count
        elif isinstance(event, ev.PieceFailed):
            self.failed_pieces += 1
        elif isinstance(event, ev.PeerBanned):
            self.banned += 1
        elif isinstance(event, ev.Completed):
            self.completed_at = event.elapsed
        elif isinstance(event, ev.PortMapped) and event.transport == "tcp":
            host = event.external_address or "gateway"
            self.reachable_at = format_address((host, event.external_port))

    def observe(self, status: TorrentStatus) -> None:
        """Take the per-connection byte counts and client names of a snapshot."""
        self.last = status
        for peer in status.peers:
            tally = self.peers.setdefault(peer.address, PeerTally())
            tally.client = tally.client or peer.client
            tally.live_down = peer.downloaded
            tally.live_up = peer.uploaded
            tally.connected = True

    @property
    def web_seeds_used(self) -> int:
        """Web seeds (BEP 19) that sent us payload, as the last snapshot counted it."""
        return sum(1 for w in self.last.web_seeds if w.downloaded > 0) if self.last is not None else 0

    @property
    def peers_seen(self) -> int:
        return len(self.peers)

    @property
    def peers_used(self) -> int:
        """Peers that sent us payload."""
        return sum(1 for t in self.peers.values() if t.downloaded > 0)

    @property
    def peers_served(self) -> int:
        """Peers we sent payload to."""
        return sum(1 for t in self.peers.values() if t.uploaded > 0)

    @property
    def swarm(self) -> tuple[int | None, int | None]:
        """The largest seeders and leechers counts any tracker reported (None: no tracker said)."""
        seeds = [s for s, _ in self.trackers.values() if s is not None]
        leechers = [n for _, n in self.trackers.values() if n is not None]
        return (max(seeds) if seeds else None, max(leechers) if leechers else None)
