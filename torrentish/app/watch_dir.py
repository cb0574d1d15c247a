"""A watch directory: .torrent files dropped into it are added to the session.

Polled (every `interval` seconds, through trio's clock) rather than watched with inotify: it
works the same on every file system, network shares included, and costs one directory listing.
A file is added once its size has stayed the same over one poll (so a file still being copied
is not read half-written), then renamed to `NAME.torrent.added` (kept, so the user sees what
happened; a duplicate counts as added) or `NAME.torrent.invalid` when it is not a torrent.
Files over the .torrent size limit are marked invalid without being read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from torrentish.errors import TorrentishError
from torrentish.formats.bencoding import TORRENT_LIMITS

LOGGER = logging.getLogger("torrentish.daemon")


def ready_files(listing: dict[str, int], previous: dict[str, int]) -> list[str]:
    """The .torrent names whose size is unchanged since the last poll (pure)."""
    return sorted(name for name, size in listing.items()
                  if name.lower().endswith(".torrent") and previous.get(name) == size)


async def watch_directory(session: Any, directory: Path, interval: float = 5.0, *,
                          task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Add the torrents that appear in `directory` until cancelled."""
    folder = trio.Path(directory)
    await folder.mkdir(parents=True, exist_ok=True)
    previous: dict[str, int] = {}
    task_status.started()
    while True:
        listing = await trio.to_thread.run_sync(_list, directory)
        for name in ready_files(listing, previous):
            await _add_one(session, directory / name, listing[name])
            listing.pop(name, None)
        previous = listing
        await trio.sleep(interval)


def _list(directory: Path) -> dict[str, int]:
    sizes = {}
    try:
        for entry in directory.iterdir():
            if entry.name.lower().endswith(".torrent") and entry.is_file():
                sizes[entry.name] = entry.stat().st_size
    except OSError as error:
        LOGGER.warning("watch directory %s: %s", directory, error.strerror or error)
    return sizes


async def _add_one(session: Any, path: Path, size: int) -> None:
    from torrentish.session import DuplicateTorrent

    outcome = "added"
    try:
        if size > TORRENT_LIMITS.max_size:
            raise TorrentishError(f"larger than {TORRENT_LIMITS.max_size} bytes")
        data = await trio.Path(path).read_bytes()
        torrent = await session.add(data)
        LOGGER.info("watch directory: added %s (%s)", torrent.name, path.name)
    except DuplicateTorrent:
        LOGGER.info("watch directory: %s is already in the session", path.name)
    except TorrentishError as error:
        outcome = "invalid"
        LOGGER.warning("watch directory: %s is not a usable torrent: %s", path.name, error)
    except OSError as error:
        LOGGER.warning("watch directory: cannot read %s: %s", path.name, error.strerror or error)
        return  # try again on the next poll
    try:
        await trio.Path(path).rename(path.with_name(f"{path.name}.{outcome}"))
    except OSError as error:
        LOGGER.warning("watch directory: cannot rename %s: %s", path.name, error.strerror or error)
