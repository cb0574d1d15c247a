"""What a torrent already has when it starts.

The resume record is trusted as the storage vets it (files unchanged, no sparse holes); every
other piece that has data on disk is hashed again, in worker threads. So a download killed at
any moment resumes with every verified piece it had written, and nothing unverified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from torrentish import events as ev
from torrentish.formats.piece_hashes import PieceHashes

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


async def find_verified_pieces(torrent: Torrent, limiter: trio.CapacityLimiter) -> set[int]:
    """The pieces whose data on disk is known good; publishes CheckingProgress while hashing."""
    good, _ = await check_existing(torrent, limiter)
    return good


async def check_existing(torrent: Torrent, limiter: trio.CapacityLimiter) -> tuple[set[int], set[int]]:
    """(every piece known good, those of them that only hashing found: the resume record lacks them)."""
    storage, geometry = torrent.storage, torrent.geometry
    hashes = PieceHashes(torrent.info)  # SHA-1 and/or merkle, as the torrent has them
    good = {i for i in await storage.load_completed() if 0 <= i < torrent.num_pieces}
    hashed: set[int] = set()
    candidates = [
        index
        for index in range(torrent.num_pieces)
        if index not in good and await storage.has_data(geometry.piece_offset(index), geometry.piece_size(index))
    ]
    checked = 0
    queue = iter(candidates)  # shared by the workers: each takes the next piece when it is free

    async def worker() -> None:
        nonlocal checked
        for index in queue:
            async with limiter:
                data = await storage.read(geometry.piece_offset(index), geometry.piece_size(index))
                if await trio.to_thread.run_sync(hashes.matches, index, data):
                    good.add(index)
                    hashed.add(index)
            checked += 1
            if checked % 64 == 0 or checked == len(candidates):
                torrent.events.publish(ev.CheckingProgress(trio.current_time(), checked, len(candidates)))

    # As many workers as the limiter lets hash at once: a task per piece would be 100,000 tasks
    # for a large torrent, each holding its frame while it waits.
    async with trio.open_nursery() as nursery:
        for _ in range(max(1, min(len(candidates), int(limiter.total_tokens)))):
            nursery.start_soon(worker)
    return good, hashed
