"""Piece data in memory: pieces being assembled from blocks, and pieces cached for upload.

Blocks of a piece are gathered in one buffer and the piece is hashed and written in one go once
it is whole. That keeps disk I/O and thread hops per piece, not per 16 KiB block, and means no
unverified byte ever reaches the disk. The cost is memory for the open pieces, which the picker
bounds (see Settings.assembly_budget).
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import trio

from torrentish.formats.geometry import BLOCK_SIZE


class SpareBuffers:
    """Buffers of whole pieces that were written, kept for the next pieces to be assembled.

    A fresh 1 MiB ``bytearray`` costs a zero-fill and, from the kernel, page faults on every
    page; reusing one costs nothing (every byte of a reused buffer is overwritten by blocks
    before the piece can be hashed). Only full-length pieces are kept, at most ``budget`` bytes.
    """

    def __init__(self, piece_length: int, budget: int):
        self.piece_length = piece_length
        self._limit = max(1, budget // piece_length)
        self._free: list[bytearray] = []

    def take(self, size: int) -> bytearray:
        if size == self.piece_length and self._free:
            return self._free.pop()
        return bytearray(size)

    def give(self, data: bytearray) -> None:
        if len(data) == self.piece_length and len(self._free) < self._limit:
            self._free.append(data)


HASH_RUN = 256 * 1024  # bytes hashed at a time while a piece arrives (well inside an L2 cache)


class PieceBuffer:
    """One piece being assembled from blocks that may arrive in any order, from many peers.

    With ``hash_as_received`` the piece is hashed as its blocks arrive in order, a few at a
    time while they are still in the CPU's cache (hashing the whole piece later, from memory,
    costs about 1.7 times as much). Blocks that arrive out of order are taken in once the gap
    before them is filled. ``digest()`` is the SHA-1 once every byte
    was hashed; None sends the piece to be hashed whole.
    """

    __slots__ = ("index", "data", "received", "missing", "contributors", "_spares", "_hasher",
                 "_prefix", "_hashed")

    def __init__(self, index: int, size: int, num_blocks: int, spares: SpareBuffers | None = None,
                 hash_as_received: bool = False):
        self.index = index
        self._spares = spares
        self.data = spares.take(size) if spares is not None else bytearray(size)
        self.received: set[int] = set()  # begin offsets of blocks already in `data`
        self.missing = num_blocks
        self.contributors: set[object] = set()  # ban keys of peers that sent blocks
        self._hasher = hashlib.sha1() if hash_as_received else None
        self._prefix = 0  # bytes at the start of `data` received without a gap
        self._hashed = 0  # bytes of that prefix hashed so far

    def add(self, begin: int, block: bytes | memoryview, contributor: object) -> bool:
        """Store a block (copied); returns False for a duplicate (endgame) block."""
        received = self.received
        if begin in received:
            return False
        end = begin + len(block)
        self.data[begin:end] = block
        received.add(begin)
        self.missing -= 1
        self.contributors.add(contributor)
        if begin == self._prefix and self._hasher is not None:
            size = len(self.data)
            while end in received and end < size:  # blocks that came early
                end += min(BLOCK_SIZE, size - end)
            self._prefix = end
            # In runs of HASH_RUN bytes, still in the CPU's cache: one GIL release per run,
            # not per block (every release lets the writer thread take the GIL).
            if end - self._hashed >= HASH_RUN or end == size:
                with memoryview(self.data) as view:
                    self._hasher.update(view[self._hashed : end])
                self._hashed = end
        return True

    def digest(self) -> bytes | None:
        """The piece's SHA-1 if every byte was hashed as it arrived, else None."""
        if self._hasher is None or self._hashed != len(self.data):
            return None
        return self._hasher.digest()

    @property
    def whole(self) -> bool:
        return self.missing == 0

    def recycle(self) -> None:
        """The piece is written (or dropped): its buffer may serve another piece."""
        if self._spares is not None:
            self._spares.give(self.data)
            self.data = bytearray()


def sha1_matches(data: bytes | bytearray, expected: bytes) -> bool:
    """Run in a worker thread: hashlib releases the GIL for large buffers."""
    return hashlib.sha1(data).digest() == expected


SPARES = 4  # evicted read buffers kept for reuse


class PieceReadCache:
    """Recently read whole pieces, for serving block requests.

    Peers ask for a piece block by block, usually in order, so reading the whole piece once
    turns ~64 disk reads (and thread hops) into one. Concurrent misses for one piece share a
    single read. Bounded by bytes.
    """

    def __init__(
        self,
        read_piece: Callable[[int], Awaitable[bytes]],
        budget: int,
        read_piece_now: Callable[[int, bytearray | None], bytes | None] = lambda index, spare: None,
    ):
        self._read_piece = read_piece
        # (index, spare) -> the piece, read into `spare` if it fits, or None if it would wait.
        self._read_piece_now = read_piece_now
        self._budget = budget
        self._pieces: OrderedDict[int, bytes] = OrderedDict()
        self._size = 0
        self._loading: dict[int, trio.Event] = {}
        # Buffers of evicted pieces that nothing refers to any more, to read the next into:
        # a fresh 1 MiB buffer costs a zero-fill and page faults on every read.
        self._spares: list[bytearray] = []

    def get_now(self, index: int) -> bytes | None:
        """The piece if it is cached (marked as just used) or can be read without waiting (the
        page cache), else None; never waits."""
        data = self._cached(index)
        if data is None and index not in self._loading:
            spare = self._spares.pop() if self._spares else None
            data = self._read_piece_now(index, spare)
            if data is not None:
                self._insert(index, data)
            elif spare is not None:
                self._spares.append(spare)
        return data

    async def get(self, index: int) -> bytes:
        while True:
            data = self._cached(index)
            if data is not None:
                return data
            loading = self._loading.get(index)
            if loading is None:
                break
            await loading.wait()
        done = self._loading[index] = trio.Event()
        try:
            data = await self._read_piece(index)
            self._insert(index, data)
            return data
        finally:
            del self._loading[index]
            done.set()

    def _cached(self, index: int) -> bytes | None:
        data = self._pieces.get(index)
        if data is not None:
            self._pieces.move_to_end(index)  # just used
        return data

    def _insert(self, index: int, data: bytes) -> None:
        self._pieces[index] = data
        self._size += len(data)
        # Always keep the newest piece, even when it alone is over budget.
        while self._size > self._budget and len(self._pieces) > 1:
            _, old = self._pieces.popitem(last=False)
            self._size -= len(old)
            # Reused only when no block of it is still waiting to be sent: a memoryview of
            # a buffer holds a reference to it, so the count is exactly ours (the variable
            # and getrefcount's argument) once every view is gone.
            if type(old) is bytearray and sys.getrefcount(old) == 2 and len(self._spares) < SPARES:
                self._spares.append(old)
