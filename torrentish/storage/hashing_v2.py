"""BEP 52 hashing of files: every piece's merkle root (SHA-256 over 16 KiB leaves), with every core.

In a v2 torrent every file is its own merkle tree and starts on a piece boundary, so the work is cut
per file into runs of whole pieces; worker threads pull runs from a shared queue and read their
files sequentially through one reusable buffer (memory stays bounded whatever the file size).
``hashlib.sha256`` and ``os.preadv`` release the GIL, so threads hash in parallel.

The result per file is its *piece hashes*: the roots of each piece's subtree, i.e. the BEP 52
piece layer (for a file of one piece or less, its single entry is the file's pieces root).

A hybrid's SHA-1 pieces come from the same read (``hybrid_piece_hashes``): in its piece-aligned
layout every v1 piece lies in one file, followed by zero bytes of padding for a file's last piece.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from torrentish.errors import StorageError
from torrentish.formats import merkle
from torrentish.formats.merkle import BLOCK_SIZE
from torrentish.storage.hashing import HashingCancelled, Progress, _pread_into, default_workers

__all__ = ["file_piece_hashes", "hybrid_piece_hashes", "pieces_root"]

READ_CHUNK = 1 << 20  # a multiple of the piece length or of it divided by a power of two
RUN_BYTES = 32 << 20


def pieces_root(piece_hashes: Sequence[bytes], piece_length: int, file_length: int) -> bytes:
    """A file's pieces root from its piece hashes."""
    if len(piece_hashes) == 1:
        return piece_hashes[0]
    return merkle.piece_layer_root(piece_hashes, piece_length, file_length)


def file_piece_hashes(
    files: Sequence[tuple[Path | str, int]],
    piece_length: int,
    *,
    strict: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[list[bytes | None]]:
    """Each file's piece hashes, in order (an empty file has none).

    strict: a missing, unreadable or short file raises StorageError; otherwise its pieces that could
    not be read are None (what ``verify`` wants). HashingCancelled when ``cancel`` is set.
    """
    return _hash_files(files, piece_length, None, strict, workers, progress, cancel)[0]


def hybrid_piece_hashes(
    files: Sequence[tuple[Path | str, int]],
    piece_length: int,
    padding: Sequence[int],
    *,
    strict: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[list[bytes | None]], list[list[bytes | None]]]:
    """Each file's v2 piece hashes and the SHA-1 of each of its v1 pieces, in one read.

    ``padding[i]`` zero bytes follow file i in the v1 stream (they end its last piece).
    """
    v2, sha1 = _hash_files(files, piece_length, padding, strict, workers, progress, cancel)
    assert sha1 is not None
    return v2, sha1


def _hash_files(files, piece_length: int, padding, strict: bool, workers, progress, cancel):
    results: list[list[bytes | None]] = [[None] * -(-length // piece_length) for _, length in files]
    sha1_results = None if padding is None else [list(r) for r in results]
    runs = []
    per_run = max(1, RUN_BYTES // piece_length)
    for number, (_, length) in enumerate(files):
        count = len(results[number])
        runs.extend((number, start, min(count, start + per_run)) for start in range(0, count, per_run))
    total = sum(length for _, length in files)
    done = 0
    lock = threading.Lock()
    failed: set[int] = set()
    # Set when the calling thread leaves early (an error, Ctrl-C): the workers stop at the next
    # piece instead of hashing everything already queued while the pool waits for them.
    abandoned = threading.Event()

    def run(number: int, first: int, end: int) -> None:
        nonlocal done
        path, length = files[number]
        if cancel is not None and cancel.is_set():
            raise HashingCancelled("hashing cancelled")
        if abandoned.is_set() or number in failed:
            return
        leaves = merkle.piece_leaves(length, piece_length)
        buffer = memoryview(bytearray(min(READ_CHUNK, piece_length)))
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as error:
            return _failure(number, path, error.strerror or str(error))
        try:
            for index in range(first, end):
                if cancel is not None and cancel.is_set():
                    raise HashingCancelled("hashing cancelled")
                if abandoned.is_set():
                    return
                start = index * piece_length
                size = min(piece_length, length - start)
                sha1 = None if sha1_results is None else hashlib.sha1()
                hashes = _leaf_hashes(fd, buffer, start, size, sha1)
                if hashes is None:
                    return _failure(number, path, "file is shorter than expected")
                results[number][index] = merkle.root_of(hashes, leaves)
                if sha1 is not None:
                    if index == len(results[number]) - 1:
                        sha1.update(bytes(padding[number]))
                    sha1_results[number][index] = sha1.digest()
                with lock:
                    done += size
                    if progress is not None:
                        progress(done, total)
        except OSError as error:
            return _failure(number, path, error.strerror or str(error))
        finally:
            os.close(fd)

    def _failure(number: int, path, reason: str) -> None:
        if strict:
            raise StorageError(f"cannot read {path}: {reason}")
        with lock:
            failed.add(number)

    count = max(1, min(workers or default_workers(), len(runs)))
    pool = ThreadPoolExecutor(count, thread_name_prefix="hash-v2")
    try:
        # A signal can land anywhere in here, between two submits too: whatever is queued by
        # then is dropped, not hashed (a 32 GiB file kept Ctrl-C waiting for the whole of it).
        futures = []
        for r in runs:
            futures.append(pool.submit(run, *r))
        for future in futures:
            future.result()
    except BaseException:
        abandoned.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for number in failed:
        results[number] = [None] * len(results[number])
        if sha1_results is not None:
            sha1_results[number] = [None] * len(results[number])
    return results, sha1_results


def _leaf_hashes(fd: int, buffer: memoryview, offset: int, size: int, sha1=None) -> list[bytes] | None:
    """SHA-256 of each 16 KiB block of ``size`` bytes at ``offset`` (fed to ``sha1`` too, if given);
    None if the file ends early."""
    hashes = []
    end = offset + size
    while offset < end:
        want = min(len(buffer), end - offset)
        got = 0
        while got < want:
            n = _pread_into(fd, buffer[got:want], offset + got)
            if n == 0:
                return None
            got += n
        if sha1 is not None:
            sha1.update(buffer[:want])
        for i in range(0, want, BLOCK_SIZE):
            hashes.append(hashlib.sha256(buffer[i : min(i + BLOCK_SIZE, want)]).digest())
        offset += want
    return hashes
