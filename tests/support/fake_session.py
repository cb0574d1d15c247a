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
from torrentish.session import DuplicateTorrent


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
    encryption: str = "preferred"
    allowed_roots: tuple[Path, ...] = ()


@dataclass
class FakeFile:
    name: str
    length: int
    completed: int = 0
    wanted: bool = True
    priority: int = 0


@dataclass
class FakePeer:
    address: tuple[str, int]
    client: str = "Fake 1.0"
    flags: str = "D"
    progress: float = 0.5
    down_rate: float = 1000.0
    up_rate: float = 0.0
    outgoing: bool = True
    choked: bool = True
    choking: bool = False
    interested: bool = False
    interesting: bool = True


@dataclass
class FakeTracker:
    url: str
    tier: int = 0
    last_announce: int = 0
    succeeded: bool = False
    result: str = ""
    seeders: int = -1
    leechers: int = -1
    peers: int = 0
    next_announce: int = 0
    announcing: bool = False


@dataclass
class FakeStatus:
    """The fields of the session's TorrentStatus that torrent-get reads."""

    total_size: int
    size_when_done: int
    left_until_done: int
    have_valid: int
    percent_done: float
    percent_complete: float
    metadata_percent: float
    rate_download: float
    rate_upload: float
    eta: int
    ratio: float
    uploaded_ever: int
    downloaded_ever: int
    piece_count: int
    piece_size: int
    up_limit: int
    up_limited: bool
    down_limit: int
    down_limited: bool
    honors_session: bool
    ratio_mode: int
    ratio_limit: float
    idle_mode: int
    idle_limit: int
    sequential: bool
    corrupt_ever: int = 0
    is_finished: bool = False
    is_private: bool = False
    peers_connected: int = 0
    peers_sending_to_us: int = 0
    peers_getting_from_us: int = 0
    comment: str = ""
    creator: str = ""
    date_created: int = 0
    web_seeds: tuple[str, ...] = ()
    start_date: int = 0
    seconds_downloading: int = 0
    seconds_seeding: int = 0
    files: tuple[FakeFile, ...] = ()
    peers: tuple[FakePeer, ...] = ()
    trackers: tuple[FakeTracker, ...] = ()
    pieces: bytes = b""


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
        self.trackers = [FakeTracker(url, tier=i) for i, url in enumerate(trackers)]
        self.magnet = magnet
        self.peers: list[FakePeer] = []
        self.limits: dict[str, Any] = {}
        self.sequential = False
        self.ratio_limit: tuple[Any, Any] = (0, None)
        self.idle_limit: tuple[Any, Any] = (0, None)
        self.status_calls: list[dict[str, bool]] = []

    def file_count(self) -> int:
        return len(self.files)

    def status(self, *, files: bool = True, peers: bool = True, trackers: bool = True,
               pieces: bool = True) -> FakeStatus:
        self.status_calls.append({"files": files, "peers": peers, "trackers": trackers, "pieces": pieces})
        total = sum(f.length for f in self.files)
        wanted = sum(f.length for f in self.files if f.wanted)
        done = sum(f.completed for f in self.files if f.wanted)
        count = -(-total // self.piece_size) if total else 0
        return FakeStatus(
            total_size=total, size_when_done=wanted, left_until_done=wanted - done, have_valid=done,
            percent_done=done / wanted if wanted else 0.0, percent_complete=done / total if total else 0.0,
            metadata_percent=0.0 if self.magnet else 1.0, rate_download=0.0, rate_upload=0.0,
            eta=-2 if self.state == "downloading" else -1, ratio=0.0, uploaded_ever=0, downloaded_ever=done,
            piece_count=count, piece_size=self.piece_size, sequential=self.sequential,
            up_limit=self.limits.get("up", 0), up_limited=self.limits.get("up_limited", False),
            down_limit=self.limits.get("down", 0), down_limited=self.limits.get("down_limited", False),
            honors_session=self.limits.get("honors_session", True), ratio_mode=self.ratio_limit[0],
            ratio_limit=self.ratio_limit[1] or 2.0, idle_mode=self.idle_limit[0], idle_limit=self.idle_limit[1] or 30,
            peers_connected=len(self.peers),
            files=tuple(replace(f) for f in self.files) if files else (),
            peers=tuple(self.peers) if peers else (),
            trackers=tuple(self.trackers) if trackers else (),
            pieces=bytes((count + 7) // 8) if pieces else b"",
        )

    def set_limits(self, *, up=None, down=None, up_limited=None, down_limited=None, honors_session=None):
        for key, value in (("up", up), ("down", down), ("up_limited", up_limited), ("down_limited", down_limited),
                           ("honors_session", honors_session)):
            if value is not None:
                self.limits[key] = value

    def set_labels(self, labels):
        self.labels = tuple(labels)

    def set_wanted(self, indices, wanted: bool):
        for i in indices:
            self.files[i].wanted = wanted

    def set_priority(self, indices, priority: int):
        for i in indices:
            self.files[i].priority = priority

    def set_sequential(self, on: bool):
        self.sequential = on

    def set_ratio_limit(self, mode, value=None):
        self.ratio_limit = (mode, value)

    def set_idle_limit(self, mode, minutes=None):
        self.idle_limit = (mode, minutes)


@dataclass
class FakeStats:
    download_speed: float = 0.0
    upload_speed: float = 0.0
    torrent_count: int = 0
    active_torrent_count: int = 0
    paused_torrent_count: int = 0
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
        self.port = config.listen_port
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

    def wall_time(self) -> float:
        return self.clock()

    def place_in_queue(self, t: FakeTorrent, position: int) -> None:
        self.calls.append(("place", t.id, position))

    def update(self, **changes) -> None:
        self.calls.append(("update", changes))
        for key, value in changes.items():
            if not hasattr(self.config, key):
                raise TorrentishError(f"unknown setting {key}")
            setattr(self.config, key, value)

    def stats(self) -> FakeStats:
        torrents = self.torrents()
        stopped = sum(1 for t in torrents if t.state == "stopped")
        return FakeStats(torrent_count=len(torrents), active_torrent_count=len(torrents) - stopped,
                         paused_torrent_count=stopped, cumulative=FakeTotals(), current=FakeTotals())
