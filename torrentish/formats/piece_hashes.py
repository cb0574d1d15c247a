"""What each piece of a torrent must hash to: SHA-1 (v1), a merkle root (v2), or both (hybrid).

The engine checks every piece it downloads, and every piece it finds on disk, with ``matches``;
a piece is good only if every hash the torrent has for it agrees (BEP 52 asks a hybrid's pieces to
match both). A v2 piece hash covers only the file's bytes in that piece: the rest of a file's last
piece is alignment padding (never written), and the merkle tree of a small file has only as many
leaves as it needs (``merkle.piece_leaves``).

A v2 file larger than one piece needs its piece layer (from the .torrent); without it (metadata
from a magnet link) a hybrid's pieces are checked by SHA-1 alone and a v2-only torrent is not
``usable``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from torrentish.formats import merkle
from torrentish.formats.metainfo_v2 import expected_piece_hashes

if TYPE_CHECKING:
    from torrentish.formats.metainfo import Info

__all__ = ["PieceHashes"]

SHA1_SIZE = 20


class PieceHashes:
    __slots__ = ("sha1", "v2", "usable")

    def __init__(self, info: Info) -> None:
        self.sha1: bytes | None = info.pieces if info.has_v1 else None
        # Per piece: (merkle hash, bytes of file data in the piece, leaves of its subtree), or None.
        self.v2: list[tuple[bytes, int, int] | None] | None = None
        usable = True
        if info.has_v2:
            self.v2 = [None] * info.num_pieces
            length = info.piece_length
            for entry in info.files:
                if entry.padding or not entry.length:
                    continue
                expected = expected_piece_hashes(entry.length, entry.pieces_root, length, info.piece_layers)
                if expected is None:
                    usable = False
                    continue
                leaves = merkle.piece_leaves(entry.length, length)
                first = entry.offset // length
                for k, digest in enumerate(expected):
                    self.v2[first + k] = (digest, min(length, entry.length - k * length), leaves)
        self.usable: bool = self.sha1 is not None or usable

    def matches(self, index: int, data: bytes | bytearray | memoryview) -> bool:
        """Whether a whole piece's data is what the torrent says (CPU-bound: call from a thread)."""
        if self.sha1 is not None:
            if hashlib.sha1(data).digest() != self.sha1[index * SHA1_SIZE : (index + 1) * SHA1_SIZE]:
                return False
        if self.v2 is not None:
            known = self.v2[index]
            if known is None:
                return self.sha1 is not None
            digest, size, leaves = known
            return merkle.piece_hash_v2(memoryview(data)[:size], leaves) == digest
        return True
