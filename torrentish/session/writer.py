"""The session's record writer: torrents' records and .torrent files written in batches.

A burst of changes (a thousand adds through the RPC, the periodic save of what changed) would
cost four fsyncs a file if each were written alone. Here they queue (`queue`, `queue_metainfo`)
and a task writes what gathered every BURST seconds in one StateDir.write_batch: each file
still replaced atomically, all of them with one journal commit. A kill loses at most what was
queued and not yet written: the adds of the last moment. One batch runs at a time (`lock`), so a
later one always encodes after an earlier one has landed, and a remove can wait for the batch
in flight before it deletes the files (else that batch could put a .torrent back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from torrentish import events as ev

if TYPE_CHECKING:
    from torrentish.session.managed import ManagedTorrent
    from torrentish.session.session import Session

BURST = 0.05  # seconds a write waits for others to join it


class RecordWriter:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._torrents: dict[bytes, ManagedTorrent] = {}
        self._metainfo: dict[bytes, bytes] = {}
        self._wanted = trio.Event()
        self.lock = trio.Lock()  # held while a batch is written

    def queue(self, t: ManagedTorrent) -> None:
        """Write the torrent's record (its options as they are now) with the next batch."""
        record = t.resume_store
        if self._session.store is None or not hasattr(record, "save_options") or t.removed:
            return
        record.options = t.state_snapshot()
        t.dirty = t.totals_dirty = False
        self._torrents[t.info_hash] = t
        self._wanted.set()

    def queue_metainfo(self, info_hash: bytes, data: bytes) -> None:
        if self._session.store is not None:
            self._metainfo[info_hash] = data
            self._wanted.set()

    def forget(self, info_hash: bytes) -> None:
        """A removed torrent: nothing of it is written any more (see `lock` for the batch in flight)."""
        self._torrents.pop(info_hash, None)
        self._metainfo.pop(info_hash, None)

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()  # (replaced here only: this task waits on it)
            await trio.sleep(BURST)
            await self.flush()

    async def flush(self) -> None:
        """Write what is queued, now."""
        store = self._session.store
        async with self.lock:
            if store is None or not (self._torrents or self._metainfo):
                return
            torrents, metainfos = self._torrents, self._metainfo
            self._torrents, self._metainfo = {}, {}
            records = [t.resume_store for t in torrents.values() if not t.removed]
            try:
                await trio.to_thread.run_sync(store.write_batch, metainfos, records)
            except OSError as exc:  # a full or read-only state directory: tried again at the next flush
                self._torrents = {**torrents, **self._torrents}
                self._metainfo = {**metainfos, **self._metainfo}
                self._session.events.publish(ev.Warning(trio.current_time(),
                                                        f"cannot write the session state: {exc.strerror or exc}"))
