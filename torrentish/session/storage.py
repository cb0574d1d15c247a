"""A session torrent's files: FileStorage whose resume saves carry the torrent's options too.

The engine saves resume data every few seconds while pieces arrive (engine/torrent.py); just
before each save, `before_save` hands the torrent's current options and totals to the record
(session/store.py TorrentRecord), so the one atomic write keeps both, consistent.
"""

from __future__ import annotations

from collections.abc import Callable

from torrentish.storage.files import FileStorage


class SessionFileStorage(FileStorage):
    def __init__(self, *args, before_save: Callable[[], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._before_save = before_save

    async def save_completed(self, pieces: set[int]) -> None:
        if self._before_save is not None:
            self._before_save()  # on the event loop: the options are read where they change
        await super().save_completed(pieces)
