"""Pieces and 16 KiB blocks laid over a list of files.

A torrent's files are concatenated, in order, into one byte stream; that stream is cut into pieces of
``piece_length`` bytes (the last one may be shorter) and pieces are requested from peers in blocks of
``BLOCK_SIZE`` bytes (the last block of a piece may be shorter). Pieces span file boundaries, and
zero-length files occupy no bytes of the stream at all.

Everything here is pure arithmetic. Arguments are checked because a wrong index is always our own bug
(untrusted numbers from peers or files are validated before they get here), so misuse raises
``ValueError``/``IndexError`` rather than a ``TorrentishError``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate

BLOCK_SIZE = 16384


class PieceGeometry:
    """Where every piece, block and file lies in a torrent's byte stream."""

    __slots__ = ("piece_length", "total_length", "num_pieces", "file_lengths", "file_offsets")

    def __init__(self, piece_length: int, file_lengths: Sequence[int]) -> None:
        if not isinstance(piece_length, int) or isinstance(piece_length, bool) or piece_length <= 0:
            raise ValueError(f"piece length must be a positive integer, not {piece_length!r}")
        lengths = tuple(file_lengths)
        for length in lengths:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise ValueError(f"file lengths must be non-negative integers, not {length!r}")
        self.piece_length: int = piece_length
        self.file_lengths: tuple[int, ...] = lengths
        # file_offsets[i] is where file i starts in the stream; the running sum also gives the total.
        ends = tuple(accumulate(lengths))
        self.file_offsets: tuple[int, ...] = (0, *ends[:-1]) if lengths else ()
        self.total_length: int = ends[-1] if ends else 0
        self.num_pieces: int = -(-self.total_length // piece_length)

    def __repr__(self) -> str:
        return (
            f"PieceGeometry(piece_length={self.piece_length}, total_length={self.total_length}, "
            f"num_pieces={self.num_pieces}, files={len(self.file_lengths)})"
        )

    # -- pieces -------------------------------------------------------------------------------

    def _check_piece(self, index: int) -> None:
        if not 0 <= index < self.num_pieces:
            raise IndexError(f"piece {index} out of range 0..{self.num_pieces - 1}")

    def piece_offset(self, index: int) -> int:
        """Where piece ``index`` starts in the stream."""
        self._check_piece(index)
        return index * self.piece_length

    def piece_size(self, index: int) -> int:
        """Bytes in piece ``index``: ``piece_length`` except possibly for the last piece."""
        self._check_piece(index)
        start = index * self.piece_length
        return min(self.piece_length, self.total_length - start)

    # -- blocks -------------------------------------------------------------------------------

    def num_blocks(self, index: int) -> int:
        return -(-self.piece_size(index) // BLOCK_SIZE)

    def block_length(self, index: int, begin: int) -> int:
        """Length of the block of piece ``index`` starting at ``begin`` (a multiple of BLOCK_SIZE)."""
        size = self.piece_size(index)
        if not 0 <= begin < size or begin % BLOCK_SIZE:
            raise ValueError(f"block offset {begin} is not a block start in piece {index}")
        return min(BLOCK_SIZE, size - begin)

    def blocks(self, index: int) -> list[tuple[int, int]]:
        """All ``(begin, length)`` blocks of piece ``index``, in order."""
        size = self.piece_size(index)
        return [(begin, min(BLOCK_SIZE, size - begin)) for begin in range(0, size, BLOCK_SIZE)]

    # -- files --------------------------------------------------------------------------------

    def _file_at(self, offset: int) -> int:
        """Index of the last file starting at or before ``offset`` (0 <= offset < total_length).

        Zero-length files share their offset with the next file; taking the *last* file that starts
        at ``offset`` skips them, so the result always holds the byte at ``offset``.
        """
        return bisect_right(self.file_offsets, offset) - 1

    def file_spans(self, offset: int, length: int) -> Iterator[tuple[int, int, int]]:
        """``(file_index, offset_in_file, span_length)`` pieces covering ``[offset, offset+length)``.

        Spans are in stream order and never empty: zero-length files are skipped.
        """
        if offset < 0 or length < 0 or offset + length > self.total_length:
            raise ValueError(
                f"span {offset}+{length} outside the stream of {self.total_length} bytes"
            )
        if length == 0:
            return
        index = self._file_at(offset)
        end = offset + length
        position = offset
        while position < end:
            file_start = self.file_offsets[index]
            file_end = file_start + self.file_lengths[index]
            span = min(end, file_end) - position
            if span > 0:
                yield index, position - file_start, span
                position += span
            index += 1

    def pieces_of_file(self, file_index: int) -> range:
        """The pieces holding bytes of file ``file_index`` (empty for a zero-length file)."""
        if not 0 <= file_index < len(self.file_lengths):
            raise IndexError(f"file {file_index} out of range 0..{len(self.file_lengths) - 1}")
        length = self.file_lengths[file_index]
        if length == 0:
            return range(0)
        start = self.file_offsets[file_index]
        return range(start // self.piece_length, (start + length - 1) // self.piece_length + 1)

    def files_of_piece(self, index: int) -> range:
        """The files whose bytes lie in piece ``index``.

        The range runs from the file holding the piece's first byte to the file holding its last
        byte, so it includes zero-length files that sit strictly inside the piece.
        """
        start = self.piece_offset(index)
        last = start + self.piece_size(index) - 1
        return range(self._file_at(start), self._file_at(last) + 1)
