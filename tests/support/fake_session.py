"""A small in-memory stand-in for the Session (docs/session.md), for the RPC layer's unit tests.

It follows the Session's API closely enough for the RPC methods to run against it without a
network or a disk: torrents are parsed for real (.torrent bytes, a path, a magnet link), and
its config, status snapshots and stats are the session's own classes (SessionConfig,
TorrentStatus, SessionStats), so the RPC reads exactly the fields the daemon will have.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from torrentish.errors import TorrentishError
from torrentish.session import DuplicateTorrent, SessionConfig
from torrentish.session.status import (
    STATUS_CODES, FileStatus, PeerStatus, SessionStats, TorrentStatus, TrackerStatus, TransferTotals,
)


def FakeConfig(state_dir: Path, download_dir: Path, **settings) -> SessionConfig:
    """The session's own config, with nothing that would reach a network."""
    return SessionConfig(state_dir=state_dir, download_dir=download_dir, host="127.0.0.1", lsd=False, dht=False,
                         **settings)


def FakeFile(name: str, length: int, completed: int = 0, wanted: bool = True, priority: int = 0) -> FileStatus:
    return FileStatus(name, length, completed, wanted, priority)


def FakePeer(address: tuple[str, int], *, flags: str = "D", outgoing: bool = True, progress: float = 0.5,
             down_rate: float = 1000.0, up_rate: float = 0.0) -> PeerStatus:
    return PeerStatus(address=address, client="Fake 1.0", flags=flags, progress=progress, down_rate=down_rate,
                      up_rate=up_rate, outgoing=outgoing, choked=True, choking="D" not in flags,
                      interested=False, interesting="D" in flags or "d" in flags)


def FakeTracker(url: str, tier: int = 0) -> TrackerStatus:
    return TrackerStatus(url=url, tier=tier, last_announce=0, succeeded=False, result="", seeders=-1, leechers=-1,
                         peers=0, next_announce=0, announcing=False)


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
               pieces: bool = True) -> TorrentStatus:
        """A real TorrentStatus (session/status.py), so that torrent-get reads the fields it will
        find in the daemon."""
        self.status_calls.append({"files": files, "peers": peers, "trackers": trackers, "pieces": pieces})
        total = sum(f.length for f in self.files)
        wanted = sum(f.length for f in self.files if f.wanted)
        done = sum(f.completed for f in self.files if f.wanted)
        count = -(-total // self.piece_size) if total else 0
        return TorrentStatus(
            id=self.id, info_hash=self.info_hash.hex(), name=self.name, state=self.state,
            status_code=STATUS_CODES[self.state], error=self.error, error_string=self.error_string,
            has_metadata=not self.magnet, metadata_percent=0.0 if self.magnet else 1.0,
            total_size=total, size_when_done=wanted, left_until_done=wanted - done, have_valid=done,
            percent_done=done / wanted if wanted else 0.0, percent_complete=done / total if total else 0.0,
            corrupt_ever=0, uploaded_ever=0, downloaded_ever=done, ratio=0.0, rate_download=0.0, rate_upload=0.0,
            eta=-2 if self.state == "downloading" else -1, peers_connected=len(self.peers),
            peers_sending_to_us=0, peers_getting_from_us=0, piece_count=count, piece_size=self.piece_size,
            download_dir=str(self.download_dir), magnet_link=self.magnet_link, added_date=int(self.added_date),
            done_date=0, activity_date=int(self.activity_date), start_date=0, is_finished=False, is_private=False,
            queue_position=self.queue_position, labels=self.labels, sequential=self.sequential,
            up_limit=self.limits.get("up", 0), up_limited=self.limits.get("up_limited", False),
            down_limit=self.limits.get("down", 0), down_limited=self.limits.get("down_limited", False),
            honors_session=self.limits.get("honors_session", True), ratio_mode=self.ratio_limit[0],
            ratio_limit=self.ratio_limit[1] or 2.0, idle_mode=self.idle_limit[0], idle_limit=self.idle_limit[1] or 30,
            seconds_downloading=0, seconds_seeding=0, comment="", creator="", date_created=0, web_seeds=(),
            files=tuple(self.files) if files else (),
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
            self.files[i] = replace(self.files[i], wanted=wanted)

    def set_priority(self, indices, priority: int):
        for i in indices:
            self.files[i] = replace(self.files[i], priority=priority)

    def set_sequential(self, on: bool):
        self.sequential = on

    def set_ratio_limit(self, mode, value=None):
        self.ratio_limit = (mode, value)

    def set_idle_limit(self, mode, minutes=None):
        self.idle_limit = (mode, minutes)


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

    def stats(self) -> SessionStats:
        torrents = self.torrents()
        stopped = sum(1 for t in torrents if t.state == "stopped")
        totals = TransferTotals(uploaded=0, downloaded=0, files_added=len(torrents), session_count=1, seconds_active=0)
        return SessionStats(download_speed=0.0, upload_speed=0.0, torrent_count=len(torrents),
                            active_torrent_count=len(torrents) - stopped, paused_torrent_count=stopped,
                            current=totals, cumulative=totals)
