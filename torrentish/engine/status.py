"""Snapshots of a torrent's state for views: plain data, computed on demand.

`snapshot` is what a view draws from (called a few times a second at most); `progress_event` is
the cheap subset the engine publishes once a second (while it changes) as an `events.Progress`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torrentish import events as ev

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


@dataclass(frozen=True)
class PeerStatus:
    address: tuple[str, int]
    client: str
    flags: str  # see FLAG_LEGEND
    down_rate: float
    up_rate: float
    progress: float  # their share of pieces, 0..1
    outgoing: bool
    downloaded: int = 0  # payload bytes from them on this connection
    uploaded: int = 0  # and to them
    choked: bool = True  # we choke them
    choking: bool = True  # they choke us
    interested: bool = False  # they want our data
    interesting: bool = False  # we want theirs
    transport: str = "tcp"  # or "utp" (net/base.transport_of)


@dataclass(frozen=True)
class WebSeedStatus:
    url: str
    down_rate: float
    downloaded: int  # payload bytes that passed their hash from this server
    dropped: str | None = None  # why we stopped asking it, once we have


FLAG_LEGEND = {
    "D": "downloading from the peer",
    "d": "we want data, the peer chokes us",
    "U": "uploading to the peer",
    "u": "the peer wants data, we choke it",
    "S": "snubbed: no data for a while despite requests",
    "I": "incoming connection (the peer dialed us)",
}


@dataclass(frozen=True)
class FileStatus:
    path: str
    length: int
    done: int
    wanted: bool


@dataclass(frozen=True)
class TorrentStatus:
    name: str
    state: str
    total: int  # bytes wanted
    done: int  # bytes verified among the wanted
    down_rate: float
    up_rate: float
    downloaded: int
    uploaded: int
    wasted: int
    elapsed: float
    peers: tuple[PeerStatus, ...]
    seeds_connected: int
    known_peers: int
    availability: float  # distributed copies among connected peers (not counting ours)
    files: tuple[FileStatus, ...]
    info_hash: str = ""
    num_pieces: int = 0
    have_pieces: int = 0
    web_seeds: tuple[WebSeedStatus, ...] = ()

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def leechers_connected(self) -> int:
        return len(self.peers) - self.seeds_connected

    @property
    def eta(self) -> float | None:
        """Seconds until done at the current rate; 0 when done, None when unknown (stalled)."""
        left = self.total - self.done
        if left <= 0:
            return 0.0
        return left / self.down_rate if self.down_rate > 1 else None

    @property
    def ratio(self) -> float:
        """Uploaded over downloaded; for a torrent we only seeded, uploaded over its size."""
        return share_ratio(self.uploaded, self.downloaded, self.total)


def share_ratio(uploaded: int, downloaded: int, total: int) -> float:
    if downloaded:
        return uploaded / downloaded
    return uploaded / total if total else 0.0


def _flags(peer) -> str:
    flags = ""
    state = peer.state
    if state.am_interested:
        flags += "d" if state.peer_choking else "D"
    if state.peer_interested:
        flags += "u" if state.am_choking else "U"
    if peer.pipeline.snubbed:
        flags += "S"
    if not peer.outgoing:
        flags += "I"
    return flags or "-"


def _file_progress(torrent: Torrent) -> list[FileStatus]:
    geometry = torrent.geometry
    have = torrent.have
    files = []
    for index, entry in enumerate(torrent.info.files):
        if entry.padding:
            continue
        wanted = torrent.wanted_files is None or index in torrent.wanted_files
        file_done = 0
        if entry.length:
            for piece in geometry.pieces_of_file(index):
                if piece in have:
                    start = max(entry.offset, geometry.piece_offset(piece))
                    end = min(entry.offset + entry.length, geometry.piece_offset(piece) + geometry.piece_size(piece))
                    file_done += end - start
        files.append(FileStatus("/".join(entry.path), entry.length, file_done, wanted))
    return files


def wanted_progress(torrent: Torrent) -> tuple[int, int]:
    """(verified bytes, total bytes) of the wanted, non-padding files."""
    info = torrent.info
    if torrent.wanted_files is None and not any(f.padding for f in info.files):
        return torrent.done_bytes, info.total_length
    done = total = 0
    for f in _file_progress(torrent):
        if f.wanted:
            done += f.done
            total += f.length
    return done, total


def progress_event(torrent: Torrent, now: float) -> ev.Progress:
    done, total = wanted_progress(torrent)
    return ev.Progress(
        now,
        done=done,
        total=total,
        downloaded=torrent.downloaded,
        uploaded=torrent.uploaded,
        down_rate=torrent.down.rate(now),
        up_rate=torrent.up.rate(now),
        peers=len(torrent.peers),
    )


def peer_status(peer, now: float, num_pieces: int) -> PeerStatus:
    """One connection as the live view and the RPC show it (``num_pieces`` at least 1)."""
    from torrentish.net.base import transport_of
    from torrentish.wire.peer_id import client_name

    state = peer.state
    return PeerStatus(
        address=peer.address, client=peer.client_version or client_name(peer.peer_id), flags=_flags(peer),
        down_rate=peer.down.rate(now), up_rate=peer.up.rate(now), progress=state.pieces.count() / num_pieces,
        outgoing=peer.outgoing, downloaded=peer.downloaded, uploaded=peer.uploaded,
        choked=state.am_choking, choking=state.peer_choking, interested=state.peer_interested,
        interesting=state.am_interested, transport=transport_of(peer.stream),
    )


def snapshot(torrent: Torrent, now: float) -> TorrentStatus:
    files = _file_progress(torrent)
    total = sum(f.length for f in files if f.wanted)
    done = sum(f.done for f in files if f.wanted)
    n = torrent.num_pieces or 1
    peers = [peer_status(peer, now, n) for peer in torrent.peers.values()]
    peers.sort(key=lambda p: (-(p.down_rate + p.up_rate), -p.progress, p.address))
    return TorrentStatus(
        name=torrent.info.name,
        state=torrent.state,
        total=total,
        done=done,
        down_rate=torrent.down.rate(now),
        up_rate=torrent.up.rate(now),
        downloaded=torrent.downloaded,
        uploaded=torrent.uploaded,
        wasted=torrent.wasted,
        elapsed=now - torrent.started_at,
        peers=tuple(peers),
        seeds_connected=sum(1 for p in torrent.peers.values() if p.state.is_seed),
        known_peers=len(torrent.known),
        availability=_availability(torrent),
        files=tuple(files),
        info_hash=torrent.info_hash.hex(),
        num_pieces=torrent.num_pieces,
        have_pieces=torrent.have.count(),
        web_seeds=tuple(WebSeedStatus(url=w.url, down_rate=w.down.rate(now), downloaded=w.downloaded,
                                      dropped=w.dropped) for w in torrent.web_seeds),
    )


def _availability(torrent: Torrent) -> float:
    """Distributed copies among the connected peers, the way mainstream clients show it: copies of
    the rarest piece, plus the fraction of pieces above that minimum as the decimals. Below 1.0 some
    piece is on no connected peer. Our own pieces do not count."""
    n = torrent.num_pieces
    if n == 0:
        return 0.0
    counts = [torrent.picker.availability(i) for i in range(n)]
    low = min(counts)
    above = sum(1 for c in counts if c > low)
    return low + above / n
