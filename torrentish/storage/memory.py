"""A torrent's data in memory: for tests and simulations that should not touch the disk.

Data is kept per piece and allocated on the first write to that piece, so a large torrent of which a
test only touches a little costs only what it touches. Unwritten bytes read as zeros. The
completion record lives in memory too (it survives ``close``, like a resume file would).
"""

from __future__ import annotations

import trio

from torrentish.formats.geometry import PieceGeometry
from torrentish.storage.base import Storage


class MemoryStorage(Storage):
    """Piece data in per-piece ``bytearray`` chunks, allocated lazily."""

    def __init__(self, geometry: PieceGeometry) -> None:
        self.geometry = geometry
        self._pieces: dict[int, bytearray] = {}
        self._completed: set[int] = set()
        self.closed = False

    @classmethod
    def filled(cls, geometry: PieceGeometry, data: bytes) -> MemoryStorage:
        """A storage that already holds all of ``data`` (a seeder's content); nothing is recorded."""
        if len(data) != geometry.total_length:
            raise ValueError(f"data is {len(data)} bytes, the geometry {geometry.total_length}")
        storage = cls(geometry)
        for index in range(geometry.num_pieces):
            start = geometry.piece_offset(index)
            storage._pieces[index] = bytearray(data[start : start + geometry.piece_size(index)])
        return storage

    def _check_span(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.geometry.total_length:
            raise ValueError(
                f"span {offset}+{length} outside the torrent's {self.geometry.total_length} bytes"
            )

    def _chunks(self, offset: int, length: int):
        """``(piece index, offset in piece, length)`` for each piece the span touches."""
        piece_length = self.geometry.piece_length
        end = offset + length
        while offset < end:
            index, inner = divmod(offset, piece_length)
            span = min(end - offset, piece_length - inner)
            yield index, inner, span
            offset += span

    async def read(self, offset: int, length: int) -> bytes:
        await trio.lowlevel.checkpoint()
        return self.read_now(offset, length)

    def read_now(self, offset: int, length: int, buffer: bytearray | None = None) -> bytes:
        self._check_span(offset, length)
        out = bytearray(length)
        position = 0
        for index, inner, span in self._chunks(offset, length):
            chunk = self._pieces.get(index)
            if chunk is not None:
                out[position : position + span] = chunk[inner : inner + span]
            position += span
        return bytes(out)

    async def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        view = memoryview(data).cast("B")
        self._check_span(offset, len(view))
        position = 0
        for index, inner, span in self._chunks(offset, len(view)):
            chunk = self._pieces.get(index)
            if chunk is None:
                chunk = self._pieces[index] = bytearray(self.geometry.piece_size(index))
            chunk[inner : inner + span] = view[position : position + span]
            position += span

    async def has_data(self, offset: int, length: int) -> bool:
        await trio.lowlevel.checkpoint()
        self._check_span(offset, length)
        return all(index in self._pieces for index, _, _ in self._chunks(offset, length))

    async def sync(self) -> None:
        await trio.lowlevel.checkpoint()

    async def load_completed(self) -> set[int]:
        await trio.lowlevel.checkpoint()
        return set(self._completed)

    async def save_completed(self, pieces: set[int]) -> None:
        await trio.lowlevel.checkpoint()
        self._completed = set(pieces)

    async def close(self) -> None:
        await trio.lowlevel.checkpoint()
        self.closed = True
