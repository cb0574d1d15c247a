"""Synthetic torrent content and a storage for it, so a swarm measures the protocol, not the disk.

Each piece is a 32-byte pattern derived from its index (and a salt) repeated to the piece's length:
cheap to make, different for every piece, so the torrent's SHA-1 hashes are real and a piece sent
in the wrong place fails. Every peer of a simulation shares one `SyntheticContent`, which holds each
piece once; a storage hands out those very objects, so a thousand peers cost one copy of the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import trio

from torrentish.formats.geometry import PieceGeometry
from torrentish.errors import StorageError
from torrentish.formats.metainfo import Info, build_info, parse_info
from torrentish.storage.base import Storage

VERIFY_MODES = ("sha1", "compare")


class SyntheticContent:
    """A file of ``total_length`` bytes in pieces of ``piece_length``, made from the piece indices."""

    def __init__(self, total_length: int, piece_length: int, *, name: str = "swarm.bin", salt: bytes = b""):
        if total_length <= 0 or piece_length <= 0 or piece_length % 16384:
            raise ValueError("the length must be positive and the piece length a multiple of 16 KiB")
        self.name = name
        self.salt = salt
        self.geometry = PieceGeometry(piece_length, [total_length])
        self._pieces: dict[int, bytes] = {}
        self._info: Info | None = None

    def piece(self, index: int) -> bytes:
        data = self._pieces.get(index)
        if data is None:
            size = self.geometry.piece_size(index)
            pattern = hashlib.sha256(self.salt + index.to_bytes(8, "big")).digest()
            data = self._pieces[index] = (pattern * (size // 32 + 1))[:size]
        return data

    @property
    def info(self) -> Info:
        """The torrent's info dictionary, with the real hash of every piece (computed once)."""
        if self._info is None:
            geometry = self.geometry
            hashes = b"".join(
                hashlib.sha1(self.piece(i)).digest() for i in range(geometry.num_pieces)
            )
            raw = build_info(self.name, geometry.piece_length, hashes, None, geometry.total_length)
            self._info = parse_info(raw)
        return self._info

    def write_file(self, path) -> None:
        """The content as a real file (for reference clients that read from disk)."""
        with open(path, "wb") as f:
            for index in range(self.geometry.num_pieces):
                f.write(self.piece(index))


class SyntheticStorage(Storage):
    """A peer's view of synthetic content: nothing is stored, reads come from the shared pieces.

    ``verify``: "sha1" hashes every received piece in the event loop (no worker thread: in virtual
    time a thread would let the clock jump while it runs); "compare" checks the bytes against the
    known content instead, which catches the same engine bugs at memcmp speed (hash-free).
    ``on_piece(index)`` is told of every piece stored, for swarm-wide availability.
    """

    def __init__(self, content: SyntheticContent, *, complete: bool, verify: str = "sha1",
                 on_piece: Callable[[int], None] | None = None):
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}")
        self.content = content
        self.geometry = content.geometry
        self.verify = verify
        self.checks_sha1 = verify == "sha1"  # "compare" keeps the engine from hashing too
        self.on_piece = on_piece
        self._complete = complete
        self._completed: set[int] = set(range(self.geometry.num_pieces)) if complete else set()

    def _piece_at(self, offset: int) -> int | None:
        index, inner = divmod(offset, self.geometry.piece_length)
        return index if inner == 0 and 0 <= index < self.geometry.num_pieces else None

    async def read(self, offset: int, length: int) -> bytes:
        await trio.lowlevel.checkpoint()
        geometry = self.geometry
        if offset < 0 or length < 0 or offset + length > geometry.total_length:
            raise StorageError(f"read of {length} bytes at {offset} outside the content")
        index = self._piece_at(offset)
        if index is not None and length == geometry.piece_size(index):
            return self.content.piece(index)  # the shared object: no copy
        out = bytearray()
        end = offset + length
        while offset < end:
            index, inner = divmod(offset, geometry.piece_length)
            piece = self.content.piece(index)
            take = min(end - offset, len(piece) - inner)
            out += piece[inner : inner + take]
            offset += take
        return bytes(out)

    async def write(self, offset: int, data) -> None:
        await trio.lowlevel.checkpoint()
        index = self._piece_at(offset)
        if index is None or len(data) != self.geometry.piece_size(index):
            raise StorageError("synthetic storage takes whole pieces only")
        if self.on_piece is not None:
            self.on_piece(index)

    async def write_verified(self, offset: int, data, digest: bytes) -> bool:
        index = self._piece_at(offset)
        if index is None:
            raise StorageError("synthetic storage takes whole pieces only")
        if self.verify == "sha1":
            ok = hashlib.sha1(data).digest() == digest
        else:
            ok = data == self.content.piece(index)
        if not ok:
            await trio.lowlevel.checkpoint()
            return False
        await self.write(offset, data)
        return True

    async def has_data(self, offset: int, length: int) -> bool:
        await trio.lowlevel.checkpoint()
        return self._complete

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
