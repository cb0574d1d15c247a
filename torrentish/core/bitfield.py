"""A set of piece indices stored with the wire's bit layout.

The peer wire protocol (BEP 3) sends "which pieces I have" as a bitfield: byte 0 holds pieces 0-7
from the high bit down, byte 1 pieces 8-15, and so on; spare bits at the end must be zero.
``Bitfield`` keeps exactly those bytes in a ``bytearray``, so reading one from a peer and sending
ours are plain copies, and keeps a running count of set bits.

Why a bytearray and not one big int: the picker asks "does this peer have piece i?" far more often
than anything else, and on a bytearray that is one index and one AND. On an int, ``(n >> i) & 1``
allocates a new int as large as the whole field for every test, which is slow for torrents with
many pieces; ``add`` on an int would copy the whole field too.

Indices given by our own code out of range raise ``IndexError`` (a bug of ours); wire bytes that do
not fit the torrent raise ``ProtocolError`` (a bad peer).
"""

from __future__ import annotations

from collections.abc import Iterator

from torrentish.errors import ProtocolError

__all__ = ["Bitfield"]

# For every byte value, the bit offsets (0 = most significant) that are set in it.
_SET_OFFSETS: tuple[tuple[int, ...], ...] = tuple(
    tuple(offset for offset in range(8) if value & (0x80 >> offset)) for value in range(256)
)


def _byte_length(size: int) -> int:
    return (size + 7) >> 3


def _spare_mask(size: int) -> int:
    """The bits of the last byte that lie past ``size`` (they must stay zero)."""
    used = size & 7
    return 0 if used == 0 else 0xFF >> used


class Bitfield:
    """Which of ``size`` pieces are present, with a constant-time ``count()``."""

    __slots__ = ("size", "_bits", "_count")

    def __init__(self, size: int, data: bytes | bytearray | memoryview | None = None) -> None:
        """An empty bitfield of ``size`` pieces, or one read from wire bytes ``data``.

        ``data`` must be exactly ``ceil(size / 8)`` bytes with the spare bits zero, as BEP 3
        requires; otherwise ``ProtocolError``.
        """
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"bitfield size must be a non-negative integer, not {size!r}")
        self.size: int = size
        expected = _byte_length(size)
        if data is None:
            self._bits = bytearray(expected)
            self._count = 0
            return
        if len(data) != expected:
            raise ProtocolError(
                f"bitfield is {len(data)} bytes, expected {expected} for {size} pieces"
            )
        bits = bytearray(data)
        if expected and bits[-1] & _spare_mask(size):
            raise ProtocolError("bitfield has spare bits set past the last piece")
        self._bits = bits
        self._count = int.from_bytes(bits, "big").bit_count()

    @classmethod
    def full(cls, size: int) -> Bitfield:
        """A bitfield with every piece present."""
        bits = cls(size)
        whole, used = divmod(size, 8)
        bits._bits[:whole] = b"\xff" * whole
        if used:
            bits._bits[whole] = (0xFF << (8 - used)) & 0xFF
        bits._count = size
        return bits

    def copy(self) -> Bitfield:
        other = Bitfield.__new__(Bitfield)
        other.size = self.size
        other._bits = bytearray(self._bits)
        other._count = self._count
        return other

    # -- queries ------------------------------------------------------------------------------

    def count(self) -> int:
        """How many pieces are present."""
        return self._count

    def complete(self) -> bool:
        """True when every piece is present (also for a zero-size field)."""
        return self._count == self.size

    def __contains__(self, index: object) -> bool:
        # Anything that is not a valid index is simply not in the set (Container semantics).
        if type(index) is not int or not 0 <= index < self.size:
            return False
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def __iter__(self) -> Iterator[int]:
        """Present indices in increasing order; whole empty bytes are skipped at once."""
        offsets = _SET_OFFSETS
        for byte_index, value in enumerate(self._bits):
            if value:
                base = byte_index << 3
                for offset in offsets[value]:
                    yield base + offset

    def missing(self) -> Iterator[int]:
        """Absent indices in increasing order."""
        offsets = _SET_OFFSETS
        last = len(self._bits) - 1
        spare = _spare_mask(self.size)
        for byte_index, value in enumerate(self._bits):
            absent = ~value & 0xFF
            if byte_index == last:
                absent &= ~spare & 0xFF
            if absent:
                base = byte_index << 3
                for offset in offsets[absent]:
                    yield base + offset

    def to_bytes(self) -> bytes:
        """The wire form: ``ceil(size / 8)`` bytes, high bit first, spare bits zero."""
        return bytes(self._bits)

    # -- changes ------------------------------------------------------------------------------

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"piece {index} out of range for a bitfield of {self.size}")
        return index >> 3, 0x80 >> (index & 7)

    def add(self, index: int) -> None:
        """Mark ``index`` present (no-op if it already is)."""
        byte, mask = self._locate(index)
        value = self._bits[byte]
        if not value & mask:
            self._bits[byte] = value | mask
            self._count += 1

    def discard(self, index: int) -> None:
        """Mark ``index`` absent (no-op if it already is)."""
        byte, mask = self._locate(index)
        value = self._bits[byte]
        if value & mask:
            self._bits[byte] = value & ~mask
            self._count -= 1

    # -- comparison ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitfield):
            return NotImplemented
        return self.size == other.size and self._bits == other._bits

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Bitfield(size={self.size}, count={self._count})"
