"""Piece data in memory: pieces being assembled from blocks, and pieces cached for upload.

Blocks of a piece are gathered in one buffer and the piece is hashed and written in one go once
it is whole. That keeps disk I/O and thread hops per piece, not per 16 KiB block, and means no
unverified byte ever reaches the disk. The cost is memory for the open pieces, which the picker
bounds (see Settings.assembly_budget).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import trio


class PieceBuffer:
    """One piece being assembled from blocks that may arrive in any order, from many peers."""

    __slots__ = ("index", "data", "received", "missing", "contributors")

    def __init__(self, index: int, size: int, num_blocks: int):
        self.index = index
        self.data = bytearray(size)
        self.received: set[int] = set()  # begin offsets of blocks already in `data`
        self.missing = num_blocks
        self.contributors: set[object] = set()  # ban keys of peers that sent blocks

    def add(self, begin: int, block: bytes, contributor: object) -> bool:
        """Store a block; returns False for a duplicate (endgame) block."""
        if begin in self.received:
            return False
        self.data[begin : begin + len(block)] = block
        self.received.add(begin)
        self.missing -= 1
        self.contributors.add(contributor)
        return True

    @property
    def whole(self) -> bool:
        return self.missing == 0


def sha1_matches(data: bytes | bytearray, expected: bytes) -> bool:
    """Run in a worker thread: hashlib releases the GIL for large buffers."""
    return hashlib.sha1(data).digest() == expected


class PieceReadCache:
    """Recently read whole pieces, for serving block requests.

    Peers ask for a piece block by block, usually in order, so reading the whole piece once
    turns ~64 disk reads (and thread hops) into one. Concurrent misses for one piece share a
    single read. Bounded by bytes.
    """

    def __init__(self, read_piece: Callable[[int], Awaitable[bytes]], budget: int):
        self._read_piece = read_piece
        self._budget = budget
        self._pieces: OrderedDict[int, bytes] = OrderedDict()
        self._size = 0
        self._loading: dict[int, trio.Event] = {}

    def peek(self, index: int) -> bytes | None:
        """The piece if it is cached (marked as just used), else None; never waits."""
        data = self._pieces.get(index)
        if data is not None:
            self._pieces.move_to_end(index)
        return data

    async def get(self, index: int) -> bytes:
        while True:
            data = self._pieces.get(index)
            if data is not None:
                self._pieces.move_to_end(index)
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

    def _insert(self, index: int, data: bytes) -> None:
        self._pieces[index] = data
        self._size += len(data)
        # Always keep the newest piece, even when it alone is over budget.
        while self._size > self._budget and len(self._pieces) > 1:
            _, old = self._pieces.popitem(last=False)
            self._size -= len(old)
