"""A torrent's data as files on disk.

Layout: ``content_path`` is the torrent's top-level item, the file itself for a single-file torrent
or the directory for a multi-file one; file ``i`` lives at ``content_path`` joined with
``info.files[i].path`` minus its first component (the torrent name). BEP 47 pad files are never
written; they read as zeros.

Safety: a torrent's paths are hostile input. Besides metainfo's checks, every component is checked
again here, and files are opened one directory at a time relative to the previous directory's fd,
with ``O_NOFOLLOW``: a symbolic link planted anywhere below ``content_path`` is never followed, so
nothing is ever read or written outside it. When writable, ``content_path`` itself must not be a
symbolic link either; when read-only (seeding what the user pointed us at) it is followed.

I/O: positional reads and writes (``os.preadv``/``os.pwrite``) in worker threads, at most
``IO_THREADS`` at a time, through a bounded cache of open descriptors. Files are created on their
first write, sparse: ``ftruncate`` to their length, so unwritten ranges stay holes and ``has_data``
can tell them apart with ``SEEK_HOLE``.

Resume record: a bencoded ``{version, info_hash, pieces, file_sizes, file_mtimes}`` kept by a
``ResumeStore``: ``resume_path`` alone is a file of its own, written atomically (``ResumeFile``); a
session keeps the record inside its per-torrent state file instead. On load it is untrusted:
anything malformed or foreign gives an empty set, and pieces of files that are now missing,
shorter, or modified since are dropped.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

import trio

from torrentish.formats import bencoding
from torrentish.core.bitfield import Bitfield
from torrentish.errors import StorageError, TorrentishError
from torrentish.formats.metainfo import Info
from torrentish.storage.base import Storage
from torrentish.storage.worker import StorageWorker

IO_THREADS = 4
MAX_OPEN_FILES = 64
RESUME_VERSION = 1

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


# Writes go to the kernel in 16 KiB pieces, as aria2's do: on this project's VMs a 1 MiB buffered
# write costs several times more system time once the host has reclaimed free guest memory
# (bench/README.md, "Transfers": 4 GiB leecher system time 11.1 s -> 2.8 s).
WRITE_CHUNK = 16 * 1024
_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", None)  # Linux 4.14+: read only what the page cache has


class ResumeStore(Protocol):
    """Where a FileStorage keeps its resume record. Both methods run in worker threads."""

    def load(self, limits: bencoding.Limits) -> object | None:
        """The decoded record (untrusted), or None when there is none or it does not decode."""

    def save(self, record: dict) -> None:
        """Keep ``record`` durably (atomically); raises OSError."""


class ResumeFile:
    """The resume record as a file of its own (``get``/``seed``: the state dir's resume/)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def load(self, limits: bencoding.Limits) -> object | None:
        try:
            with open(self.path, "rb") as f:
                return bencoding.decode(f.read(limits.max_size + 1), limits)
        except (OSError, TorrentishError):
            return None

    def save(self, record: dict) -> None:
        write_atomically(self.path, bencoding.encode(record))


class FileStorage(Storage):
    """Piece data in the torrent's files under ``content_path``."""

    def __init__(
        self,
        content_path: Path,
        info: Info,
        *,
        writable: bool = True,
        resume_path: Path | None = None,
        resume_store: ResumeStore | None = None,
        max_open_files: int = MAX_OPEN_FILES,
    ) -> None:
        self.content_path = Path(os.path.abspath(content_path))
        self.info = info
        self.geometry = info.geometry()
        self.writable = writable
        self.resume_path = None if resume_path is None else Path(resume_path)
        self.resume_store = resume_store or (None if resume_path is None else ResumeFile(resume_path))
        # Components below content_path for each file; None for pad files; () for a single file.
        self._relative: list[tuple[str, ...] | None] = [
            None if entry.padding else _safe_components(entry.path[1:] if info.multi_file else ())
            for entry in info.files
        ]
        self._files = _OpenFiles(max_open_files)
        self._lock = threading.Lock()  # guards the sets below, touched from worker threads
        self._prepared: set[int] = set()  # files created/sized for writing
        self._dirty: set[int] = set()  # written since the last sync
        self._new_dirs: set[Path] = set()  # directories whose entries changed since the last sync
        self._empty_files_made = False
        self._limiter = trio.CapacityLimiter(IO_THREADS)
        # Downloaded pieces are hashed and written by one thread of their own, in order.
        self._writer = StorageWorker(f"torrentish writer {content_path.name}")

    def path_of(self, file_index: int) -> Path | None:
        """Where file ``file_index`` lives (None for a pad file)."""
        parts = self._relative[file_index]
        return None if parts is None else self.content_path.joinpath(*parts)

    async def _run(self, fn: Callable, *args):
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    # -- the Storage interface ---------------------------------------------------------------

    async def read(self, offset: int, length: int) -> bytes:
        return await self._run(self._read, offset, length)

    async def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if not self.writable:
            raise StorageError(f"{self.content_path} is open read-only")
        await self._writer.run(self._write, offset, data)

    async def write_verified(self, offset: int, data: bytes | bytearray, digest: bytes) -> bool:
        if not self.writable:
            raise StorageError(f"{self.content_path} is open read-only")
        return await self._writer.run(self._write_verified, offset, data, digest)

    async def has_data(self, offset: int, length: int) -> bool:
        return await self._run(self._has_data, offset, length)

    async def sync(self) -> None:
        await self._run(self._sync)

    async def load_completed(self) -> set[int]:
        return await self._run(self._load_completed)

    async def save_completed(self, pieces: set[int]) -> None:
        await self._run(self._save_completed, frozenset(pieces))

    async def close(self) -> None:
        self._writer.stop()
        self._files.close_all()

    # -- opening files without following links -----------------------------------------------

    def _open(self, index: int, create: bool) -> int:
        """Open file ``index`` (creating it and its directories if ``create``); raises OSError."""
        parts = self._relative[index]
        assert parts is not None, "pad files are never opened"
        mode = (os.O_RDWR if self.writable else os.O_RDONLY) | _CLOEXEC
        top_nofollow = _NOFOLLOW if self.writable else 0
        if not parts:  # single-file torrent: content_path is the file
            if create:
                self._make_dirs(self.content_path.parent)
            return self._open_at(None, str(self.content_path), mode | top_nofollow, create,
                                 self.content_path.parent)
        if create:
            self._make_dirs(self.content_path)
        dirfd = os.open(self.content_path, os.O_RDONLY | _DIRECTORY | _CLOEXEC | top_nofollow)
        try:
            where = self.content_path
            for part in parts[:-1]:
                where = where / part
                child = self._open_dir_at(dirfd, part, create, where)
                os.close(dirfd)
                dirfd = child
            return self._open_at(dirfd, parts[-1], mode | _NOFOLLOW, create, where)
        finally:
            os.close(dirfd)

    def _open_dir_at(self, dirfd: int, name: str, create: bool, where: Path) -> int:
        flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        try:
            return os.open(name, flags, dir_fd=dirfd)
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError:  # Linux reports a link opened with O_DIRECTORY this way
            if stat.S_ISLNK(os.lstat(name, dir_fd=dirfd).st_mode):
                raise OSError(errno.ELOOP, "symbolic link") from None
            raise
        with suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=dirfd)
            with self._lock:
                self._new_dirs.add(where.parent)
        return os.open(name, flags, dir_fd=dirfd)

    def _open_at(self, dirfd: int | None, name: str, flags: int, create: bool, parent: Path) -> int:
        try:
            return os.open(name, flags, dir_fd=dirfd)
        except FileNotFoundError:
            if not create:
                raise
        try:
            fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dirfd)
        except FileExistsError:  # someone else just made it
            return os.open(name, flags, dir_fd=dirfd)
        with self._lock:
            self._new_dirs.add(parent)
        return fd

    def _make_dirs(self, directory: Path) -> None:
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._new_dirs.add(directory.parent)

    @contextmanager
    def _use(self, index: int, create: bool) -> Iterator[int]:
        """An open fd for file ``index``; OSErrors become StorageErrors naming the file."""
        try:
            fd = self._files.acquire(index, lambda: self._open(index, create))
        except OSError as error:
            raise self._error(index, error) from None
        try:
            yield fd
        except OSError as error:
            raise self._error(index, error) from None
        finally:
            self._files.release(index)

    def _error(self, index: int, error: OSError) -> StorageError:
        path = self.path_of(index)
        if error.errno in (errno.ELOOP, errno.EMLINK):
            return StorageError(f"{path}: refusing to follow a symbolic link on the way to this file")
        if error.errno == errno.ENOTDIR:
            return StorageError(f"{path}: a file stands where the torrent needs a directory")
        return StorageError(f"{path}: {error.strerror or error}")

    # -- I/O in worker threads ---------------------------------------------------------------

    def read_now(self, offset: int, length: int, buffer: bytearray | None = None) -> bytes | None:
        # Called on the event loop: RWF_NOWAIT makes the kernel refuse (EAGAIN) rather than wait
        # for the disk, and a piece in the page cache costs a memory copy instead of a thread hop.
        if _RWF_NOWAIT is None:
            return None
        try:
            return self._read(offset, length, _RWF_NOWAIT, buffer)
        except (BlockingIOError, StorageError):
            return None  # not all cached, or an error that the threaded read will report

    def _read(self, offset: int, length: int, flags: int = 0, buffer: bytearray | None = None) -> bytes:
        out = buffer if buffer is not None and len(buffer) == length else bytearray(length)
        view = memoryview(out)
        position = 0
        for index, inner, span in self.geometry.file_spans(offset, length):
            if self._relative[index] is not None:
                with self._use(index, create=False) as fd:
                    done = 0
                    while done < span:
                        got = os.preadv(fd, [view[position + done : position + span]], inner + done,
                                        flags)
                        if got == 0:
                            raise StorageError(f"{self.path_of(index)} is shorter than the torrent says")
                        done += got
            position += span
        return out  # a bytearray: bytes-like, and no second copy of the piece

    def _write_verified(self, offset: int, data: bytes | bytearray, digest: bytes) -> bool:
        # hashlib releases the GIL on large buffers: hashing here costs no event-loop time.
        if hashlib.sha1(data).digest() != digest:
            return False
        self._write(offset, data)
        return True

    def _write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self._make_empty_files()
        position = 0
        for index, inner, span in self.geometry.file_spans(offset, len(view)):
            if self._relative[index] is not None:
                with self._use(index, create=True) as fd:
                    self._prepare(index, fd)
                    done = 0
                    while done < span:
                        chunk = view[position + done : position + min(span, done + WRITE_CHUNK)]
                        done += os.pwrite(fd, chunk, inner + done)
                with self._lock:
                    self._dirty.add(index)
            position += span

    def _prepare(self, index: int, fd: int) -> None:
        """Size a file for writing once: sparse up to its length, or cut back a longer one."""
        if index in self._prepared:
            return
        if os.fstat(fd).st_size != self.info.files[index].length:
            os.ftruncate(fd, self.info.files[index].length)
        with self._lock:
            self._prepared.add(index)

    def _make_empty_files(self) -> None:
        """Zero-length files get no writes, so create them with the first write (or sync)."""
        if self._empty_files_made or not self.writable:
            return
        for index, entry in enumerate(self.info.files):
            if entry.length == 0 and self._relative[index] is not None:
                with self._use(index, create=True):
                    pass
        self._empty_files_made = True

    def _has_data(self, offset: int, length: int) -> bool:
        for index, inner, span in self.geometry.file_spans(offset, length):
            if self._relative[index] is None:
                continue
            try:
                with self._use(index, create=False) as fd:
                    if os.fstat(fd).st_size < inner + span:
                        return False
                    if hasattr(os, "SEEK_HOLE"):
                        try:
                            hole = os.lseek(fd, inner, os.SEEK_HOLE)
                        except OSError:  # the filesystem cannot tell: maybe written
                            continue
                        if hole < inner + span:
                            return False
            except StorageError:
                return False
        return True

    def _sync(self) -> None:
        self._make_empty_files()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            new_dirs, self._new_dirs = self._new_dirs, set()
        for index in sorted(dirty):
            with self._use(index, create=False) as fd:
                os.fsync(fd)  # per inode: also flushes writes made through an evicted fd
        for directory in sorted(new_dirs):
            fsync_dir(directory)

    # -- the resume record -------------------------------------------------------------------

    def _file_stats(self) -> tuple[list[int], list[int]]:
        """Current (size, mtime in ns) of every file; -1 for a missing file, 0 for pad files."""
        stats = [(0, 0) if path is None else _size_and_mtime(path)
                 for path in map(self.path_of, range(len(self.info.files)))]
        return [size for size, _ in stats], [mtime for _, mtime in stats]

    def _save_completed(self, pieces: frozenset[int]) -> None:
        if self.resume_store is None:
            return
        bits = Bitfield(self.geometry.num_pieces)
        for index in pieces:
            bits.add(index)
        sizes, mtimes = self._file_stats()
        record = {
            "version": RESUME_VERSION,
            "info_hash": self.info.info_hash,
            "pieces": bits.to_bytes(),
            "file_sizes": sizes,
            "file_mtimes": mtimes,
        }
        try:
            self.resume_store.save(record)
        except OSError as error:
            reason = error.strerror or error
            raise StorageError(f"cannot save resume data to {self.resume_store}: {reason}") from None

    def _load_completed(self) -> set[int]:
        if self.resume_store is None:
            return set()
        record = self.resume_store.load(resume_limits(self.info))
        try:
            pieces, sizes, mtimes = _check_record(record, self.info.info_hash, len(self.info.files))
            bits = Bitfield(self.geometry.num_pieces, pieces)
        except TorrentishError:
            return set()
        completed = set(bits)
        now_sizes, now_mtimes = self._file_stats()
        for index, entry in enumerate(self.info.files):
            if self._relative[index] is None or entry.length == 0:
                continue
            unchanged = now_sizes[index] == sizes[index] and now_mtimes[index] == mtimes[index]
            if not unchanged or now_sizes[index] < entry.length:
                completed.difference_update(self.geometry.pieces_of_file(index))
        # The record is untrusted: a piece over a sparse hole was never written, whatever it says.
        geometry = self.geometry
        return {i for i in completed if self._has_data(geometry.piece_offset(i), geometry.piece_size(i))}


def resume_limits(info: Info) -> bencoding.Limits:
    """The bencoding limits a resume record of this torrent fits in."""
    count = len(info.files)
    return bencoding.Limits(
        max_size=(info.num_pieces + 7) // 8 + 48 * count + 4096,
        max_depth=3,
        max_items=2 * count + 16,
        max_int_digits=20,
    )


def _check_record(record: object, info_hash: bytes, file_count: int) -> tuple[bytes, list[int], list[int]]:
    """The (pieces, file_sizes, file_mtimes) of a well-formed resume record for this torrent."""
    if type(record) is not dict or record.get(b"version") != RESUME_VERSION:
        raise StorageError("not a resume record of a known version")
    if record.get(b"info_hash") != info_hash:
        raise StorageError("resume record of another torrent")
    pieces, sizes, mtimes = record.get(b"pieces"), record.get(b"file_sizes"), record.get(b"file_mtimes")
    if type(pieces) is not bytes:
        raise StorageError("resume record without pieces")
    for values in (sizes, mtimes):
        if type(values) is not list or len(values) != file_count or any(type(v) is not int for v in values):
            raise StorageError("resume record with malformed file stats")
    return pieces, sizes, mtimes


def _size_and_mtime(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return -1, 0
    return st.st_size, st.st_mtime_ns


def _safe_components(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The components unchanged, if each names one entry inside its directory; else StorageError."""
    for part in parts:
        if part in ("", ".", "..") or "\0" in part or "/" in part or (os.altsep and os.altsep in part):
            raise StorageError(f"unsafe path component {part[:80]!r} in the torrent")
    return parts


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (new files, renames) durable; a no-op where that is unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class _OpenFiles:
    """Open fds by file index, least recently used evicted first; an fd in use is never closed."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._lock = threading.Lock()
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._users: dict[int, int] = {}

    def acquire(self, index: int, opener: Callable[[], int]) -> int:
        with self._lock:
            fd = self._fds.get(index)
            if fd is None:
                fd = self._fds[index] = opener()
            self._fds.move_to_end(index)
            self._users[index] = self._users.get(index, 0) + 1
            self._evict()
            return fd

    def release(self, index: int) -> None:
        with self._lock:
            self._users[index] -= 1
            if not self._users[index]:
                del self._users[index]
            self._evict()

    def _evict(self) -> None:
        if len(self._fds) <= self._limit:
            return
        for index in [i for i in self._fds if i not in self._users]:
            os.close(self._fds.pop(index))
            if len(self._fds) <= self._limit:
                return

    def close_all(self) -> None:
        with self._lock:
            for index in [i for i in self._fds if i not in self._users]:
                os.close(self._fds.pop(index))
