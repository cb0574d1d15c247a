"""Snapshots of a torrent's state for views: plain data, computed on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


@dataclass(frozen=True)
class PeerStatus:
    address: tuple[str, int]
    client: str
    flags: str  # libtorrent-style: D/d we download (unchoked/choked+interested), U/u they do, S snubbed
    down_rate: float
    up_rate: float
    progress: float  # their share of pieces, 0..1
    outgoing: bool


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
    availability: float  # distributed copies of the wanted data among connected peers
    files: tuple[FileStatus, ...]

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done
        if left <= 0:
            return 0.0
        return left / self.down_rate if self.down_rate > 1 else None

    @property
    def ratio(self) -> float:
        return self.uploaded / self.downloaded if self.downloaded else 0.0


def _flags(peer) -> str:
    flags = ""
    if peer.am_interested:
        flags += "d" if peer.peer_choking else "D"
    if peer.peer_interested:
        flags += "u" if peer.am_choking else "U"
    if peer.snubbed:
        flags += "S"
    if not peer.outgoing:
        flags += "I"
    return flags or "-"


def snapshot(torrent: Torrent, now: float) -> TorrentStatus:
    from torrentish.wire.peer_id import client_name

    geometry = torrent.geometry
    have = torrent.have
    files = []
    total = done = 0
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
        if wanted:
            total += entry.length
            done += file_done
    peers = []
    n = torrent.num_pieces or 1
    for peer in torrent.peers.values():
        peers.append(
            PeerStatus(
                address=peer.address,
                client=peer.client_version or client_name(peer.peer_id),
                flags=_flags(peer),
                down_rate=peer.down.rate(now),
                up_rate=peer.up.rate(now),
                progress=peer.bitfield.count() / n,
                outgoing=peer.outgoing,
            )
        )
    peers.sort(key=lambda p: (-p.down_rate, -p.up_rate, p.address))
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
        seeds_connected=sum(1 for p in torrent.peers.values() if p.is_seed),
        known_peers=len(torrent.known),
        availability=_availability(torrent),
        files=tuple(files),
    )


def _availability(torrent: Torrent) -> float:
    """Copies of the rarest piece among connected peers (plus ours), with the fraction of pieces
    above that minimum as the decimals, the way mainstream clients show it."""
    n = torrent.num_pieces
    if n == 0:
        return 0.0
    counts = [1 if i in torrent.have else 0 for i in range(n)]
    for peer in torrent.peers.values():
        if peer.is_seed:
            counts = [c + 1 for c in counts]
        else:
            for i in peer.bitfield:
                counts[i] += 1
    low = min(counts)
    above = sum(1 for c in counts if c > low)
    return low + above / n
