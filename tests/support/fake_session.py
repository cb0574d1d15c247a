"""A small in-memory stand-in for the Session (docs/session.md), for the RPC layer's unit tests.

It follows the Session's API closely enough for the RPC methods to run against it without a
network or a disk: torrents are parsed for real (.torrent bytes, a path, a magnet link), and
their status snapshots are plain objects with the fields torrent-get reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torrentish.errors import TorrentishError
from torrentish.rpc.methods import DuplicateTorrent


@dataclass
class FakeConfig:
    state_dir: Path
    download_dir: Path
    listen_port: int = 51413
    host: str = "127.0.0.1"
    max_active_downloads: int = 5
    max_active_seeds: int = 10
    up_limit: int = 0
    down_limit: int = 0
    alt_up: int = 0
    alt_down: int = 0
    alt_enabled: bool = False
    ratio_limit: float | None = None
    idle_limit_minutes: int | None = None
    lsd: bool = False
    dht: bool = False
    pex: bool = True
    encryption: str = "prefer"
    allowed_roots: tuple[Path, ...] = ()


@dataclass
class FakeFile:
    name: str
    length: int
    bytes_completed: int = 0
    wanted: bool = True
    priority: int = 0
    begin_piece: int = 0
    end_piece: int = 1


@dataclass
class FakePeer:
    address: tuple[str, int]
    client: str = "Fake 1.0"
    flags: str = "D"
    progress: float = 0.5
    down_rate: float = 1000.0
    up_rate: float = 0.0
    outgoing: bool = True
    downloaded: int = 0
    uploaded: int = 0


@dataclass
class FakeTracker:
    announce: str
    id: int = 0
    tier: int = 0
    scrape: str = ""
    announce_state: int = 0
    download_count: int = -1
    has_announced: bool = False
    has_scraped: bool = False
    is_backup: bool = False
    last_announce_peer_count: int = 0
    last_announce_result: str = ""
    last_announce_start_time: int = 0
    last_announce_succeeded: bool = False
    last_announce_time: int = 0
    last_announce_timed_out: bool = False
    last_scrape_result: str = ""
    last_scrape_start_time: int = 0
    last_scrape_succeeded: bool = False
    last_scrape_time: int = 0
    last_scrape_timed_out: bool = False
    leecher_count: int = -1
    next_announce_time: int = 0
    next_scrape_time: int = 0
    scrape_state: int = 0
    seeder_count: int = -1


@dataclass
class FakeStatus:
    total_size: int
    size_when_done: int
    left_until_done: int
    have_valid: int
    rate_download: float
    rate_upload: float
    uploaded_ever: int
    downloaded_ever: int
    metadata_percent_complete: float
    piece_count: int
    piece_size: int
    pieces: bytes
    availability: list[int]
    files: list[FakeFile]
    peers: list[FakePeer] = field(default_factory=list)
    trackers: list[FakeTracker] = field(default_factory=list)


class FakeTorrent:
    def __init__(self, torrent_id: int, info_hash: bytes, name: str, download_dir: Path, files: list[FakeFile],
                 piece_size: int, now: float, trackers: list[str], magnet: bool):
        self.id = torrent_id
        self.info_hash = info_hash
        self.name = name
        self.magnet_link = f"magnet:?xt=urn:btih:{info_hash.hex()}"
        self.download_dir = download_dir
        self.state = "downloading"
        self.error = 0
        self.error_string = ""
        self.added_date = now
        self.done_date = 0.0
        self.activity_date = now
        self.labels: tuple[str, ...] = ()
        self.queue_position = torrent_id - 1
        self.files = files
        self.piece_size = piece_size
        self.trackers = [FakeTracker(url, id=i, tier=i) for i, url in enumerate(trackers)]
        self.magnet = magnet
        self.peers: list[FakePeer] = []
        self.limits: dict[str, Any] = {}
        self.sequential = False
        self.ratio_limit: tuple[Any, Any] = (0, None)
        self.idle_limit: tuple[Any, Any] = (0, None)
        self.status_calls = 0

    def status(self) -> FakeStatus:
        self.status_calls += 1
        total = sum(f.length for f in self.files)
        wanted = sum(f.length for f in self.files if f.wanted)
        done = sum(f.bytes_completed for f in self.files if f.wanted)
        count = max(1, -(-total // self.piece_size)) if total else 0
        return FakeStatus(
            total_size=total, size_when_done=wanted, left_until_done=wanted - done, have_valid=done,
            rate_download=0.0, rate_upload=0.0, uploaded_ever=0, downloaded_ever=done,
            metadata_percent_complete=0.0 if self.magnet else 1.0, piece_count=count,
            piece_size=self.piece_size, pieces=bytes((count + 7) // 8), availability=[0] * count,
            files=[replace(f) for f in self.files], peers=list(self.peers), trackers=list(self.trackers),
        )

    def set_limits(self, up=None, down=None, honors_session=True):
        self.limits = {"up": up, "down": down, "honors_session": honors_session}

    def set_wanted(self, indices, wanted: bool):
        for i in indices:
            self.files[i].wanted = wanted

    def set_priority(self, indices, priority: int):
        for i in indices:
            self.files[i].priority = priority

    def set_sequential(self, on: bool):
        self.sequential = on

    def set_ratio_limit(self, mode, value):
        self.ratio_limit = (mode, value)

    def set_idle_limit(self, mode, minutes):
        self.idle_limit = (mode, minutes)


@dataclass
class FakeStats:
    down_rate: float = 0.0
    up_rate: float = 0.0
    cumulative: Any = None
    current: Any = None


@dataclass
class FakeTotals:
    uploaded: int = 0
    downloaded: int = 0
    files_added: int = 0
    session_count: int = 1
    seconds_active: int = 0


class FakeSession:
    def __init__(self, config: FakeConfig, clock=lambda: 1_700_000_000.0):
        self.config = config
        self.listen_port = config.listen_port
        self.clock = clock
        self._torrents: dict[int, FakeTorrent] = {}
        self._next_id = 1
        self.calls: list[tuple] = []

    def torrents(self) -> list[FakeTorrent]:
        return [self._torrents[k] for k in sorted(self._torrents)]

    def find(self, key) -> FakeTorrent | None:
        if isinstance(key, int):
            return self._torrents.get(key)
        for t in self._torrents.values():
            if t.info_hash.hex() == key:
                return t
        return None

    async def add(self, source, *, download_dir=None, paused=False, labels=()) -> FakeTorrent:
        from torrentish.formats.magnet import parse_magnet
        from torrentish.formats.metainfo import load_torrent, parse_torrent

        magnet = False
        if isinstance(source, str):
            parsed = parse_magnet(source)
            info_hash, name, files, piece_size, trackers = (
                parsed.info_hash, parsed.display_name or parsed.info_hash.hex(), [], 16384, list(parsed.trackers))
            magnet = True
        else:
            meta = load_torrent(source) if isinstance(source, Path) else parse_torrent(source)
            info = meta.info
            info_hash, name, piece_size = info.info_hash, info.name, info.piece_length
            files = [FakeFile("/".join(f.path), f.length) for f in info.files if not f.padding]
            trackers = [url for tier in meta.trackers() for url in tier]
        for existing in self._torrents.values():
            if existing.info_hash == info_hash:
                raise DuplicateTorrent(existing)
        torrent = FakeTorrent(self._next_id, info_hash, name, Path(download_dir or self.config.download_dir),
                              files, piece_size, self.clock(), trackers, magnet)
        torrent.labels = tuple(labels)
        torrent.state = "stopped" if paused else "downloading"
        self._torrents[torrent.id] = torrent
        self._next_id += 1
        self.calls.append(("add", torrent.id))
        return torrent

    async def remove(self, t: FakeTorrent, delete_data: bool = False) -> None:
        self.calls.append(("remove", t.id, delete_data))
        del self._torrents[t.id]

    async def start(self, t: FakeTorrent, now: bool = False) -> None:
        self.calls.append(("start", t.id, now))
        t.state = "downloading"

    async def stop(self, t: FakeTorrent) -> None:
        self.calls.append(("stop", t.id))
        t.state = "stopped"

    async def verify(self, t: FakeTorrent) -> None:
        self.calls.append(("verify", t.id))
        t.state = "check-wait"

    def reannounce(self, t: FakeTorrent) -> None:
        self.calls.append(("reannounce", t.id))

    async def set_location(self, t: FakeTorrent, path: Path, move: bool = True) -> None:
        self.calls.append(("set_location", t.id, str(path), move))
        t.download_dir = Path(path)

    async def rename_path(self, t: FakeTorrent, path: str, name: str) -> None:
        self.calls.append(("rename_path", t.id, path, name))

    def move_in_queue(self, t: FakeTorrent, where: str) -> None:
        self.calls.append(("queue", t.id, where))

    async def configure(self, **changes) -> None:
        self.calls.append(("configure", changes))
        for key, value in changes.items():
            if not hasattr(self.config, key):
                raise TorrentishError(f"unknown setting {key}")
            setattr(self.config, key, value)

    def stats(self) -> FakeStats:
        return FakeStats(cumulative=FakeTotals(), current=FakeTotals())
