"""The Storage interface: where a torrent's piece data lives.

The engine sees a torrent's data as one byte stream (all files end to end) and addresses it by
absolute offset; a storage maps that onto its own layout (files on disk, memory). It also keeps the
completion record (which pieces were verified), so a restart does not have to hash everything again.

Implementations raise ``StorageError`` for data that cannot be read or written as the torrent needs
(a missing file, a full disk); plain exceptions are our bugs.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod


class Storage(ABC):
    """A torrent's data, addressed by absolute offset in the torrent's byte stream."""

    # Pieces are checked against their SHA-1, so the engine may hash them as their blocks
    # arrive and only hand over pieces that matched (``write``). A storage that checks pieces
    # another way (the simulator's byte comparison) says False and gets ``write_verified``.
    checks_sha1 = True

    @abstractmethod
    async def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes starting at ``offset``."""

    def read_now(self, offset: int, length: int, buffer: bytearray | None = None) -> bytes | None:
        """The bytes if they can be had without waiting (in memory, in the page cache), else None.

        Called on the event loop to serve uploads without a thread hop; None sends the caller
        to ``read``. Must never block on the disk. A ``buffer`` of exactly ``length`` bytes may
        be filled and returned instead of allocating one.
        """
        return None

    @abstractmethod
    async def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``offset`` (not necessarily durable until ``sync``)."""

    async def write_verified(self, offset: int, data: bytes | bytearray, digest: bytes) -> bool:
        """Store ``data`` only if its SHA-1 is ``digest``; returns whether it matched.

        A whole piece is checked and stored in one step, so a storage that works in threads can
        do both in one thread hop. This default hashes in a worker thread, then writes. The
        caller may reuse ``data`` once this returns: a storage that keeps bytes copies them.
        """
        import trio

        if await trio.to_thread.run_sync(lambda: hashlib.sha1(data).digest()) != digest:
            return False
        await self.write(offset, data)
        return True

    @abstractmethod
    async def has_data(self, offset: int, length: int) -> bool:
        """False when part of the range was certainly never written (a sparse hole, a missing file).

        True means "maybe": the data still has to be hashed before it is trusted.
        """

    @abstractmethod
    async def sync(self) -> None:
        """Make everything written so far durable, before completion is recorded."""

    @abstractmethod
    async def load_completed(self) -> set[int]:
        """The pieces recorded as verified by the last ``save_completed`` (empty if none or invalid)."""

    @abstractmethod
    async def save_completed(self, pieces: set[int]) -> None:
        """Record ``pieces`` as verified, atomically: a crash leaves the old record or the new one."""

    @abstractmethod
    async def close(self) -> None:
        """Release open files and other resources."""

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
