"""Web seeds as a transfer service: each server is a source that has every piece.

    services = [webseed_service(meta.url_list)]
    await transfer.get(info, out, services=services)

The torrent's picker decides what a web seed fetches, as for a peer: each of a server's
`connections` workers asks it for blocks (about `request_bytes` at a time), turns the runs of
contiguous blocks into range requests (a run may span files: one request per file) and hands
the blocks to the torrent as they arrive, where they are hashed like any peer's. So web seeds
and peers share the work, and endgame and file selection apply to both.

Failures are events (`WebSeedFailed`), never fatal. A failed request frees its blocks for the
others and the server is tried again after a delay that doubles with each failure in a row;
after `max_failures` in a row it is dropped. Data that fails the hash check counts against the
server like a peer's (its `ban_key`), and a server banned for it is dropped at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from torrentish import events as ev
from torrentish.core.bitfield import Bitfield
from torrentish.core.rates import RateMeter
from torrentish.formats.geometry import BLOCK_SIZE
from torrentish.formats.webseed import plan_ranges
from torrentish.services.webseed.fetch import WebSeedError, fetch_segment, open_web_client

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent

__all__ = ["WebSeedSettings", "webseed_service", "WebSeed", "MAX_WEB_SEEDS"]

MAX_WEB_SEEDS = 16  # a torrent or link naming more is hostile or careless: the rest are ignored


@dataclass(frozen=True)
class WebSeedSettings:
    connections: int = 2  # requests in flight per server: one is being read while one starts
    request_bytes: int = 4 * 1024 * 1024  # torrent bytes a worker asks the picker for at a time
    retry_delay: float = 2.0  # after the first failure; doubles with each failure in a row
    max_retry_delay: float = 120.0
    max_failures: int = 6  # failures in a row before the server is dropped
    timeout: float = 30.0  # between bytes of a reply
    min_rate: float = 16 * 1024  # bytes/s: a request slower than this on the whole (plus `timeout`) fails
    connect_timeout: float = 10.0
    max_redirects: int = 3
    idle_poll: float = 0.5  # how often an idle worker asks the picker again


def webseed_service(urls: Sequence[str], settings: WebSeedSettings | None = None):
    """A service running one WebSeed per http(s) URL (duplicates and the rest ignored)."""
    chosen = [u for u in dict.fromkeys(urls) if u.lower().startswith(("http://", "https://"))]
    chosen = chosen[:MAX_WEB_SEEDS]

    async def service(client, torrent) -> None:
        async with trio.open_nursery() as nursery:
            for url in chosen:
                nursery.start_soon(WebSeed(torrent, url, settings or WebSeedSettings()).run)

    return service


class _Worker:
    """What one worker is to the picker: a requester with its own outstanding blocks. Its
    attributes are the ones the torrent's block path uses of a peer."""

    __slots__ = ("ban_key", "downloaded")

    def __init__(self, ban_key: object) -> None:
        self.ban_key = ban_key
        self.downloaded = 0

    def send_cancel(self, index: int, begin: int, length: int) -> None:
        pass  # endgame: another source sent the block first; ours arrives late and is dropped


class WebSeed:
    def __init__(self, torrent: Torrent, url: str, settings: WebSeedSettings):
        self.torrent = torrent
        self.url = url
        self.settings = settings
        self.ban_key = ("web seed", url)
        self.failures = 0  # in a row
        self.dropped: str | None = None
        self.workers: list[_Worker] = []
        self.down = RateMeter()  # payload bytes/s from this server (status: "sending to us")

    @property
    def downloaded(self) -> int:
        return sum(w.downloaded for w in self.workers)

    async def run(self) -> None:
        """Fetch for the torrent until dropped or cancelled."""
        torrent, s = self.torrent, self.settings
        everything = Bitfield.full(torrent.num_pieces)
        torrent.picker.peer_bitfield(everything)
        torrent.web_seeds.append(self)
        try:
            async with open_web_client(timeout=s.timeout, connect_timeout=s.connect_timeout,
                                       max_redirects=s.max_redirects, connections=s.connections) as http:
                async with trio.open_nursery() as nursery:
                    self._scope = nursery.cancel_scope
                    for _ in range(max(1, s.connections)):
                        worker = _Worker(self.ban_key)
                        self.workers.append(worker)
                        nursery.start_soon(self._work, http, worker, everything)
        finally:
            torrent.picker.peer_lost(everything)
            torrent.web_seeds.remove(self)

    async def _work(self, http, worker: _Worker, everything: Bitfield) -> None:
        torrent, s = self.torrent, self.settings
        want = max(1, s.request_bytes // BLOCK_SIZE)
        try:
            while True:
                blocks = [] if torrent.upload_only else self._pick(worker, everything, want)
                if not blocks:
                    await trio.sleep(s.idle_poll)
                    continue
                try:
                    for offset, run in _runs(torrent, blocks):
                        await self._fetch_run(http, worker, offset, run)
                except WebSeedError as exc:
                    torrent.picker.peer_gone(worker)
                    await self._failed(str(exc))
                    continue
                if self.ban_key in torrent.banned:
                    self._drop("sent data that failed the hash check")
                    return
                self.failures = 0
        finally:
            torrent.picker.peer_gone(worker)
            torrent.refill_all()  # what we let go may be wanted by the peers at once

    def _pick(self, worker: _Worker, everything: Bitfield, want: int) -> list:
        """Blocks for one worker: where to start is the picker's choice (rarest first, file
        priorities...); from there the pieces that follow, so that one HTTP request fetches a
        long stretch rather than scattered pieces."""
        picker = self.torrent.picker
        blocks = picker.pick(worker, everything, 1)
        if not blocks:
            return blocks
        start = blocks[0].index
        span = -(-want * BLOCK_SIZE // self.torrent.geometry.piece_length)
        blocks += picker.pick(worker, everything, want - 1, allowed=range(start, min(start + span, everything.size)))
        if not picker.endgame or len(self.workers) < 2:
            return blocks
        # Endgame duplicates are for racing a slow source, not this server's other worker.
        ours = {b for w in self.workers if w is not worker for b in picker.requests(w)}
        for block in blocks:
            if block in ours:
                picker.block_abandoned(worker, block)
        return [b for b in blocks if b not in ours]

    async def _fetch_run(self, http, worker: _Worker, offset: int, run: list[tuple[int, int, int]]) -> None:
        """Fetch contiguous blocks (index, begin, length) starting at torrent byte `offset`."""
        torrent = self.torrent
        cutter = _BlockCutter(torrent, worker, run)
        total = sum(length for _, _, length in run)
        # A server that drips a byte just within `timeout` must not hold the blocks forever.
        with trio.move_on_after(self.settings.timeout + total / self.settings.min_rate) as deadline:
            for segment in plan_ranges(torrent.info, self.url, offset, total, torrent.geometry):
                if segment.padding:
                    cutter.feed(bytes(segment.length))
                    continue
                await fetch_segment(http, segment, cutter.feed, self._pace)
        if deadline.cancelled_caught:
            raise WebSeedError(f"slower than {self.settings.min_rate / 1024:.0f} KiB/s")

    async def _pace(self, n: int) -> None:
        torrent = self.torrent
        now = trio.current_time()
        torrent.down.add(n, now)
        self.down.add(n, now)
        delay = torrent.download_delay(n, now)
        if delay > 0:
            await trio.sleep(delay)

    async def _failed(self, reason: str) -> None:
        self.failures += 1
        if self.failures >= self.settings.max_failures:
            self._drop(f"{reason} ({self.failures} failures in a row)")
            await trio.sleep_forever()  # the drop cancels us
        self.torrent.events.publish(ev.WebSeedFailed(trio.current_time(), self.url, reason, False))
        s = self.settings
        await trio.sleep(min(s.max_retry_delay, s.retry_delay * 2 ** (self.failures - 1)))

    def _drop(self, reason: str) -> None:
        if self.dropped is None:
            self.dropped = reason
            self.torrent.events.publish(ev.WebSeedFailed(trio.current_time(), self.url, reason, True))
        self._scope.cancel()


def _runs(torrent: Torrent, blocks) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Blocks grouped into runs that are contiguous in the torrent: (offset, blocks)."""
    piece_length = torrent.geometry.piece_length
    runs: list[tuple[int, list[tuple[int, int, int]]]] = []
    end = -1
    for index, begin, length in sorted(blocks):
        offset = index * piece_length + begin
        if offset != end:
            runs.append((offset, []))
        runs[-1][1].append((index, begin, length))
        end = offset + length
    return runs


class _BlockCutter:
    """Cuts the bytes of a run into its blocks and hands each whole block to the torrent.

    Blocks that lie whole in a chunk go on as views into it (the torrent copies each block
    once, into its piece); only a block split between two chunks is put together here."""

    def __init__(self, torrent: Torrent, worker: _Worker, run: list[tuple[int, int, int]]):
        self.torrent = torrent
        self.worker = worker
        self.blocks = iter(run)
        self.current = next(self.blocks)
        self.partial = bytearray()

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        add_block, worker = self.torrent.add_block, self.worker
        if self.partial:
            missing = self.current[2] - len(self.partial)
            self.partial += view[:missing]
            view = view[missing:]
            if len(self.partial) < self.current[2]:
                return
            self._emit(bytes(self.partial))
            self.partial.clear()
        while self.current is not None and len(view) >= self.current[2]:
            length = self.current[2]
            add_block(worker, self.current[0], self.current[1], view[:length])
            self.current = next(self.blocks, None)
            view = view[length:]
        if len(view) and self.current is not None:
            self.partial += view

    def _emit(self, block) -> None:
        index, begin, _ = self.current
        self.torrent.add_block(self.worker, index, begin, block)
        self.current = next(self.blocks, None)
