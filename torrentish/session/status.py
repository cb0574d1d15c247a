"""Snapshots of a session's torrents and of the session: plain frozen data, built on demand.

`torrent_status(t)` holds everything a front-end (the RPC's torrent-get) shows of a torrent.
The lists (files, peers, trackers) and the piece bitfield cost the most: a caller that does not
need them says so (`files=False`, ...) and gets empty ones. Dates are wall-clock epoch seconds;
rates bytes/s; `eta` seconds, -1 when not downloading, -2 when unknown (Transmission's values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# PeerStatus is the engine's (one view of a connection for the live view and the RPC);
# FLAG_LEGEND is re-exported: what the peer flags mean.
from torrentish.engine.status import FLAG_LEGEND, PeerStatus, peer_status  # noqa: F401

if TYPE_CHECKING:
    from torrentish.session.managed import ManagedTorrent

STATUS_CODES = {"stopped": 0, "check-wait": 1, "checking": 2, "download-wait": 3, "downloading": 4,
                "seed-wait": 5, "seeding": 6}
ETA_NOT_AVAILABLE, ETA_UNKNOWN = -1, -2


@dataclass(frozen=True)
class FileStatus:
    name: str  # path inside the torrent, "/"-separated, starting with the torrent's name
    length: int
    completed: int  # verified bytes
    wanted: bool
    priority: int  # -1, 0, 1


@dataclass(frozen=True)
class TrackerStatus:
    url: str
    tier: int
    last_announce: int  # epoch seconds, 0: never
    succeeded: bool
    result: str
    seeders: int  # -1: unknown
    leechers: int
    peers: int
    next_announce: int
    announcing: bool


@dataclass(frozen=True)
class TorrentStatus:
    id: int
    info_hash: str  # hex
    name: str
    state: str  # stopped, check-wait, checking, download-wait, downloading, seed-wait, seeding
    status_code: int  # Transmission's 0..6 for the same
    error: int  # 0 none, 3 local error
    error_string: str
    has_metadata: bool
    metadata_percent: float  # 0..1
    total_size: int
    size_when_done: int  # bytes of the wanted files
    left_until_done: int
    have_valid: int  # verified bytes
    percent_done: float  # of the wanted bytes
    percent_complete: float  # of all bytes
    corrupt_ever: int
    uploaded_ever: int
    downloaded_ever: int
    ratio: float
    rate_download: float
    rate_upload: float
    eta: int
    peers_connected: int
    peers_sending_to_us: int
    peers_getting_from_us: int
    piece_count: int
    piece_size: int
    download_dir: str
    magnet_link: str
    added_date: int
    done_date: int
    activity_date: int
    start_date: int
    is_finished: bool
    is_private: bool
    queue_position: int
    labels: tuple[str, ...]
    sequential: bool
    up_limit: int
    up_limited: bool
    down_limit: int
    down_limited: bool
    honors_session: bool
    ratio_mode: int
    ratio_limit: float
    idle_mode: int
    idle_limit: int
    seconds_downloading: int
    seconds_seeding: int
    comment: str
    creator: str
    date_created: int
    web_seeds: tuple[str, ...]
    files: tuple[FileStatus, ...] = ()
    peers: tuple[PeerStatus, ...] = ()
    trackers: tuple[TrackerStatus, ...] = ()
    pieces: bytes = b""  # the verified pieces as a wire bitfield
    web_seeds_sending_to_us: int = 0


def torrent_status(t: ManagedTorrent, now: float, wall: float, *, files: bool = True, peers: bool = True,
                   trackers: bool = True, pieces: bool = True) -> TorrentStatus:
    """`now` is trio's clock (rates), `wall` the wall clock (dates)."""
    info, have, engine, o = t.info, t.have, t.engine, t.options
    seconds = t.seconds_active()
    state = t.state
    total = wanted_total = done_wanted = done_all = 0
    file_list: tuple[FileStatus, ...] = ()
    if info is not None:
        total = info.total_length
        done_all, wanted_total, done_wanted, per_file = _sizes(t, want_files=files)
        if files:
            file_list = tuple(per_file)
    left = wanted_total - done_wanted
    down_rate = engine.down.rate(now) if engine is not None else 0.0
    up_rate = engine.up.rate(now) if engine is not None else 0.0
    peer_list = _peers(engine, now) if peers and engine is not None else ()
    meta = t.meta
    return TorrentStatus(
        id=t.id, info_hash=t.info_hash.hex(), name=t.name, state=state, status_code=STATUS_CODES[state],
        error=t.error, error_string=t.error_string if t.error else "",
        has_metadata=info is not None, metadata_percent=1.0 if info is not None else 0.0,
        total_size=total, size_when_done=wanted_total, left_until_done=left, have_valid=done_all,
        percent_done=done_wanted / wanted_total if wanted_total else (1.0 if info is not None else 0.0),
        percent_complete=done_all / total if total else 0.0,
        corrupt_ever=t.corrupt_ever, uploaded_ever=t.uploaded_ever, downloaded_ever=t.downloaded_ever,
        ratio=t.ratio,
        rate_download=down_rate, rate_upload=up_rate, eta=_eta(state, left, down_rate),
        peers_connected=len(engine.peers) if engine is not None else 0,
        peers_sending_to_us=sum(1 for p in engine.peers.values() if p.down.rate(now) > 0) if engine else 0,
        peers_getting_from_us=sum(1 for p in engine.peers.values() if p.up.rate(now) > 0) if engine else 0,
        piece_count=info.num_pieces if info is not None else 0,
        piece_size=info.piece_length if info is not None else 0,
        download_dir=t.options.download_dir, magnet_link=t.magnet_link,  # already text: no Path made
        added_date=o.added_date, done_date=o.done_date, activity_date=o.activity_date, start_date=t.start_date,
        is_finished=o.finished, is_private=bool(info is not None and info.private),
        queue_position=o.queue_position, labels=o.labels, sequential=o.sequential,
        up_limit=o.up_limit, up_limited=o.up_limited, down_limit=o.down_limit, down_limited=o.down_limited,
        honors_session=o.honors_session, ratio_mode=o.ratio_mode, ratio_limit=o.ratio_limit_milli / 1000,
        idle_mode=o.idle_mode, idle_limit=o.idle_limit,
        seconds_downloading=seconds[0], seconds_seeding=seconds[1],
        comment=(meta.comment or "") if meta is not None else "",
        creator=(meta.created_by or "") if meta is not None else "",
        date_created=(meta.creation_date or 0) if meta is not None else 0,
        web_seeds=tuple(meta.url_list) if meta is not None else (),
        files=file_list, peers=peer_list,
        trackers=_trackers(t, now, wall) if trackers else (),
        pieces=have.to_bytes() if pieces and have is not None else b"",
        web_seeds_sending_to_us=sum(1 for w in engine.web_seeds if w.down.rate(now) > 0) if engine else 0,
    )


def _sizes(t: ManagedTorrent, *, want_files: bool) -> tuple[int, int, int, list[FileStatus]]:
    """(verified bytes, wanted bytes, verified wanted bytes, per-file statuses)."""
    info, have = t.info, t.have
    geometry = t.geometry
    priorities, flags = t._file_lists()
    done_all = 0
    if have is not None and have.count():
        last = info.num_pieces - 1  # only the last piece may be shorter
        done_all = have.count() * info.piece_length - (
            info.piece_length - geometry.piece_size(last) if last in have else 0)
    wanted_total = done_wanted = 0
    per_file: list[FileStatus] = []
    everything_wanted = all(flags) and not any(f.padding for f in info.files)
    if everything_wanted and not want_files:
        return done_all, info.total_length, done_all, per_file
    for index, entry in enumerate(info.files):
        if entry.padding:
            continue
        done = 0
        if entry.length and have is not None:
            for piece in geometry.pieces_of_file(index):
                if piece in have:
                    start = max(entry.offset, geometry.piece_offset(piece))
                    end = min(entry.offset + entry.length, geometry.piece_offset(piece) + geometry.piece_size(piece))
                    done += end - start
        if flags[index]:
            wanted_total += entry.length
            done_wanted += done
        per_file.append(FileStatus("/".join(entry.path), entry.length, done, flags[index], priorities[index]))
    return done_all, wanted_total, done_wanted, per_file


def _eta(state: str, left: int, rate: float) -> int:
    if state != "downloading":
        return ETA_NOT_AVAILABLE
    if left <= 0:
        return 0
    return int(left / rate) if rate > 1 else ETA_UNKNOWN


def _peers(engine, now: float) -> tuple[PeerStatus, ...]:
    n = engine.num_pieces or 1
    return tuple(peer_status(peer, now, n) for peer in engine.peers.values())


def _trackers(t: ManagedTorrent, now: float, wall: float) -> tuple[TrackerStatus, ...]:
    def when(moment: float | None) -> int:
        return 0 if moment is None else int(wall + (moment - now))

    announcer = t.services.announcer if t.engine is not None else None
    if announcer is not None:
        return tuple(
            TrackerStatus(s.url, s.tier, when(s.last_announce), s.succeeded, s.result,
                          -1 if s.seeders is None else s.seeders, -1 if s.leechers is None else s.leechers,
                          s.peers, when(s.next_announce), s.announcing)
            for s in announcer.stats.values()
        )
    tiers = t.meta.trackers() if t.meta is not None else ((tuple(t.magnet.trackers),) if t.magnet else ())
    return tuple(TrackerStatus(url, tier, 0, False, "", -1, -1, 0, 0, False)
                 for tier, urls in enumerate(tiers) for url in urls)


@dataclass(frozen=True)
class TransferTotals:
    uploaded: int
    downloaded: int
    files_added: int
    session_count: int
    seconds_active: int


@dataclass(frozen=True)
class SessionStats:
    download_speed: float
    upload_speed: float
    torrent_count: int
    active_torrent_count: int
    paused_torrent_count: int
    current: TransferTotals  # since this session started
    cumulative: TransferTotals  # over every session kept in the state dir
