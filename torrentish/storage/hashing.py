"""Piece hashing over files with every core, in bounded memory.

Both entry points are synchronous and meant to run in worker threads (the engine calls them through
``trio.to_thread.run_sync``). Work is cut into runs of contiguous pieces, so every thread reads its
files sequentially, and the threads pull runs from a shared queue so a slow disk region does not leave
cores idle. ``hashlib.sha1`` and ``os.preadv`` both release the GIL on large buffers, so the threads
hash in parallel.

Memory stays bounded whatever the file size: each thread owns one reusable buffer of ``READ_CHUNK``
bytes, reads a piece through it chunk by chunk and feeds each chunk to the piece's running hash while
it is still in the CPU cache. Nothing ever holds a whole piece or file.

A file given as ``(None, length)`` is padding (BEP 47): it hashes as ``length`` zero bytes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from torrentish.formats.geometry import PieceGeometry
from torrentish.errors import StorageError

READ_CHUNK = 1 << 20  # bytes per read: big enough for few syscalls, small enough to stay in cache
RUN_BYTES = 32 << 20  # a unit of work: this many bytes of contiguous pieces (at least one piece)
DIGEST_SIZE = 20

FileSpec = tuple["Path | str | None", int]
Progress = Callable[[int, int], None]  # (bytes done, bytes total), called from worker threads


class HashingCancelled(Exception):
    """The ``cancel`` event was set before hashing finished."""


class _Unreadable(Exception):
    """A file is missing, unreadable or shorter than its declared length."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def hash_pieces(
    files: Sequence[FileSpec],
    piece_length: int,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> bytes:
    """The concatenated SHA-1 digests of every piece of ``files`` laid end to end.

    Raises ``StorageError`` if a file cannot be read or is shorter than its given length (it changed
    while we hashed it), ``HashingCancelled`` if ``cancel`` is set.
    """
    job = _Job(files, piece_length)
    digests: list[bytes] = [b""] * job.geometry.num_pieces

    def record(index: int, digest: bytes | None) -> None:
        assert digest is not None  # strict mode raises instead of reporting an unreadable piece
        digests[index] = digest

    try:
        job.run(range(job.geometry.num_pieces), record, workers, progress, cancel, strict=True)
    except _Unreadable as error:
        raise StorageError(str(error)) from None
    return b"".join(digests)


def check_pieces(
    files: Sequence[FileSpec],
    piece_length: int,
    expected_hashes: bytes,
    *,
    pieces: Iterable[int] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> set[int]:
    """The pieces (of ``pieces``, default all) whose data on disk matches ``expected_hashes``.

    Missing, unreadable or short files make the pieces that touch them fail; they never raise.
    """
    job = _Job(files, piece_length)
    count = job.geometry.num_pieces
    if len(expected_hashes) != DIGEST_SIZE * count:
        raise ValueError(f"expected {count} hashes, got {len(expected_hashes)} bytes")
    wanted = range(count) if pieces is None else sorted(set(pieces))
    if wanted and not (0 <= wanted[0] and wanted[-1] < count):
        raise ValueError(f"piece indices must lie in 0..{count - 1}")
    good: set[int] = set()
    lock = threading.Lock()

    def record(index: int, digest: bytes | None) -> None:
        if digest == expected_hashes[index * DIGEST_SIZE : (index + 1) * DIGEST_SIZE]:
            with lock:
                good.add(index)

    job.run(wanted, record, workers, progress, cancel, strict=False)
    return good


class _Job:
    """One hashing run: the layout of the files and the threads that walk it."""

    def __init__(self, files: Sequence[FileSpec], piece_length: int) -> None:
        self.paths: list[Path | None] = [None if p is None else Path(p) for p, _ in files]
        self.geometry = PieceGeometry(piece_length, [length for _, length in files])

    def run(
        self,
        pieces: Sequence[int],
        record: Callable[[int, bytes | None], None],
        workers: int | None,
        progress: Progress | None,
        cancel: threading.Event | None,
        *,
        strict: bool,
    ) -> None:
        geometry = self.geometry
        runs = list(_runs(pieces, max(1, RUN_BYTES // geometry.piece_length)))
        total = sum(geometry.piece_size(i) for i in pieces)
        done = 0
        lock = threading.Lock()
        stop = threading.Event()  # a worker failed: the others finish their current piece and leave
        failures: list[BaseException] = []
        next_run = iter(runs)

        def report(nbytes: int) -> None:
            nonlocal done
            with lock:
                done += nbytes
                if progress is not None:
                    progress(done, total)

        def take_run() -> range | None:
            with lock:
                return next(next_run, None)

        def work() -> None:
            reader = _Reader(self, strict)
            try:
                while (run := take_run()) is not None:
                    for index in run:
                        if stop.is_set():
                            return
                        if cancel is not None and cancel.is_set():
                            raise HashingCancelled("hashing cancelled")
                        record(index, reader.piece_digest(index))
                        report(geometry.piece_size(index))
            except BaseException as error:  # noqa: BLE001 - handed to the calling thread below
                with lock:
                    failures.append(error)
                stop.set()
            finally:
                reader.close()

        count = max(1, min(workers or default_workers(), len(runs)))
        threads = [threading.Thread(target=work, name=f"hash-{n}", daemon=True) for n in range(count - 1)]
        try:
            for thread in threads:
                thread.start()
            work()  # the calling thread is a worker too
        except BaseException:
            stop.set()  # a signal between two starts: the others leave at their next piece
            raise
        finally:
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
        if failures:
            raise failures[0]


def _runs(pieces: Sequence[int], max_len: int) -> Iterator[range]:
    """Group sorted piece indices into ranges of consecutive pieces, at most ``max_len`` long."""
    start = previous = None
    for index in pieces:
        if start is not None and index == previous + 1 and index - start < max_len:
            previous = index
            continue
        if start is not None:
            yield range(start, previous + 1)
        start = previous = index
    if start is not None:
        yield range(start, previous + 1)


_ZEROS = memoryview(bytes(READ_CHUNK))


class _Reader:
    """One worker's open files and read buffer."""

    def __init__(self, job: _Job, strict: bool) -> None:
        self.job = job
        self.strict = strict
        self.buffer = memoryview(bytearray(READ_CHUNK))
        self.files: dict[int, int] = {}  # file index -> fd; a worker walks files in order
        self.unreadable: set[int] = set()  # files already found bad (only when not strict)

    def close(self) -> None:
        for fd in self.files.values():
            os.close(fd)
        self.files.clear()

    def _fd(self, file_index: int) -> int:
        fd = self.files.get(file_index)
        if fd is not None:
            return fd
        if len(self.files) >= 4:  # runs move forward through the files: drop the oldest
            os.close(self.files.pop(next(iter(self.files))))
        path = self.job.paths[file_index]
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as error:
            raise _Unreadable(path, error.strerror or str(error)) from None
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        self.files[file_index] = fd
        return fd

    def piece_digest(self, index: int) -> bytes | None:
        """SHA-1 of piece ``index``, or None when a file it needs is unreadable (not strict)."""
        geometry = self.job.geometry
        sha = hashlib.sha1()
        spans = geometry.file_spans(geometry.piece_offset(index), geometry.piece_size(index))
        for file_index, offset, length in spans:
            if self.job.paths[file_index] is None:
                for start in range(0, length, READ_CHUNK):
                    sha.update(_ZEROS[: min(READ_CHUNK, length - start)])
                continue
            if file_index in self.unreadable:
                return None
            try:
                self._hash_span(sha, file_index, offset, length)
            except _Unreadable:
                if self.strict:
                    raise
                self.unreadable.add(file_index)
                return None
        return sha.digest()

    def _hash_span(self, sha, file_index: int, offset: int, length: int) -> None:
        fd = self._fd(file_index)
        buffer = self.buffer
        end = offset + length
        while offset < end:
            want = min(READ_CHUNK, end - offset)
            try:
                got = _pread_into(fd, buffer[:want], offset)
            except OSError as error:
                raise _Unreadable(self.job.paths[file_index], error.strerror or str(error)) from None
            if got == 0:
                raise _Unreadable(self.job.paths[file_index], "file is shorter than expected")
            sha.update(buffer[:got])
            offset += got


if hasattr(os, "preadv"):

    def _pread_into(fd: int, view: memoryview, offset: int) -> int:
        return os.preadv(fd, [view], offset)

else:  # pragma: no cover - Windows: each worker owns its fds, so seeking is safe

    def _pread_into(fd: int, view: memoryview, offset: int) -> int:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.readv(fd, [view]) if hasattr(os, "readv") else _read_copy(fd, view)

    def _read_copy(fd: int, view: memoryview) -> int:
        data = os.read(fd, len(view))
        view[: len(data)] = data
        return len(data)
