"""The session's state directory: one .torrent and one record per torrent, and a session record.

    STATE_DIR/session.state              the session's record (state.SessionState)
    STATE_DIR/torrents/<hash>.torrent    the torrent's metainfo, as added (absent for a magnet
                                         link until its metadata arrives)
    STATE_DIR/torrents/<hash>.state      its options, dates, totals and resume data
                                         (state.TorrentState)

Every write replaces its file atomically (a temporary file, fsync, rename, fsync of the
directory), so a kill -9 at any moment leaves either the old or the new content. Many records
written at once (a burst of adds) share one flush: `write_batch` writes every temporary file,
syncs them, and only then renames them and syncs the directory. Reads are
bounded; names that are not a 40-digit hex info hash are ignored. All methods block (file I/O):
the session calls them in worker threads.
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

from torrentish.formats.bencoding import TORRENT_LIMITS, Limits
from torrentish.session import state as st
from torrentish.storage.files import fsync_dir, write_atomically

_HEX = frozenset("0123456789abcdef")


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.torrents = self.root / "torrents"
        self._locks: dict[bytes, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, info_hash: bytes) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(info_hash, threading.Lock())

    def info_hashes(self) -> list[bytes]:
        """The torrents with a .torrent or a record here, in no particular order."""
        found: set[bytes] = set()
        try:
            entries = list(self.torrents.iterdir())
        except OSError:
            return []
        for entry in entries:
            stem, suffix = entry.stem, entry.suffix
            if suffix in (".torrent", ".state") and len(stem) == 40 and set(stem) <= _HEX:
                found.add(bytes.fromhex(stem))
        return sorted(found)

    def _path(self, info_hash: bytes, suffix: str) -> Path:
        return self.torrents / f"{info_hash.hex()}{suffix}"

    @staticmethod
    def _read(path: Path, limit: int) -> bytes | None:
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except OSError:
            return None
        return data if len(data) <= limit else None

    # -- metainfo -------------------------------------------------------------------------------
    def read_metainfo(self, info_hash: bytes) -> bytes | None:
        return self._read(self._path(info_hash, ".torrent"), TORRENT_LIMITS.max_size)

    def write_metainfo(self, info_hash: bytes, data: bytes) -> None:
        write_atomically(self._path(info_hash, ".torrent"), data)

    # -- per-torrent records --------------------------------------------------------------------
    def read_state(self, info_hash: bytes, limits: Limits) -> st.TorrentState | None:
        data = self._read(self._path(info_hash, ".state"), limits.max_size)
        return None if data is None else st.load_torrent_state(data, info_hash, limits)

    def write_state(self, state: st.TorrentState) -> None:
        with self._lock(state.info_hash):
            write_atomically(self._path(state.info_hash, ".state"), st.encode_torrent_state(state))

    def delete(self, info_hash: bytes) -> None:
        with self._lock(info_hash):
            for suffix in (".state", ".torrent"):
                with suppress(FileNotFoundError):
                    self._path(info_hash, suffix).unlink()
        with self._guard:
            self._locks.pop(info_hash, None)

    def write_batch(self, metainfos: dict[bytes, bytes], records: list[TorrentRecord]) -> None:
        """Write .torrent files and records together, each atomically as write_atomically
        would, with one journal commit for all instead of one each. A record written
        meanwhile by its storage (newer resume data) is not replaced by ours."""
        self.torrents.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[Path, str, TorrentRecord | None, int]] = []
        try:
            for info_hash, data in metainfos.items():
                path = self._path(info_hash, ".torrent")
                staged.append((path, _stage(path, data), None, 0))
            for record in records:
                encoded = record.encode()
                if encoded is not None:
                    path = self._path(record.options.info_hash, ".state")
                    staged.append((path, _stage(path, encoded[1]), record, encoded[0]))
            for _, temporary, _, _ in staged:
                _fsync_path(temporary)  # the first commits them all; the others find little to do
            for path, temporary, record, version in staged:
                if record is None:
                    os.replace(temporary, path)
                elif not record.commit(version, lambda: os.replace(temporary, path)):
                    os.unlink(temporary)
        except BaseException:
            for _, temporary, _, _ in staged:
                with suppress(OSError):
                    os.unlink(temporary)
            raise
        fsync_dir(self.torrents)

    # -- the session record ---------------------------------------------------------------------
    def read_session(self) -> st.SessionState | None:
        data = self._read(self.root / "session.state", st.SESSION_LIMITS.max_size)
        return None if data is None else st.load_session_state(data)

    def write_session(self, state: st.SessionState) -> None:
        with self._guard:
            write_atomically(self.root / "session.state", st.encode_session_state(state))


class TorrentRecord:
    """One torrent's .state file, written from two sides: the session's options (`options`, a
    snapshot the session replaces on its own thread) and the storage's resume data (as the
    torrent's FileStorage ResumeStore). Each write takes the latest of both."""

    def __init__(self, store: StateDir, options: st.TorrentState) -> None:
        self.store = store
        self.options = options
        self.resume: dict | None = options.resume
        self.removed = False  # set before the files are deleted: no write may bring them back
        self._lock = threading.Lock()
        self._version = 0  # writes so far: a batched write staged before a newer one is dropped

    def __str__(self) -> str:
        return str(self.store._path(self.options.info_hash, ".state"))

    def forget_resume(self) -> None:
        """The next start checks all data (a verify)."""
        self.resume = None

    # the ResumeStore interface (storage/files.py), in worker threads
    def load(self, limits: Limits) -> object | None:
        return self.resume

    def save(self, record: dict) -> None:
        # Kept as a decoded record looks (bytes keys), which is what `load` must hand back.
        with self._lock:
            self.resume = {k.encode() if isinstance(k, str) else k: v for k, v in record.items()}
            self._write()

    def save_options(self) -> None:
        with self._lock:
            self._write()

    def mark_removed(self) -> None:
        with self._lock:
            self.removed = True

    def _write(self) -> None:
        if self.removed:
            return
        options = self.options
        options.resume = self.resume
        self.store.write_state(options)
        self._version += 1

    # for StateDir.write_batch
    def encode(self) -> tuple[int, bytes] | None:
        """(version, the record's bytes), or None once removed."""
        with self._lock:
            if self.removed:
                return None
            self.options.resume = self.resume
            return self._version, st.encode_torrent_state(self.options)

    def commit(self, version: int, replace) -> bool:
        """Put the staged write in place (`replace`) unless the record was removed or written
        since it was encoded."""
        with self._lock:
            if self.removed or self._version != version:
                return False
            replace()
            self._version += 1
            return True


def _stage(path: Path, data: bytes) -> str:
    """A temporary file beside `path` holding `data` (not synced yet)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return temporary


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
