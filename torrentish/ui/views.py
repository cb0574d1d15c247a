"""Views of a running transfer, and the task that feeds them.

A view is an async callable `view(client, torrent)` that runs beside the transfer (the `view`
hook of torrentish.app.transfer) and is cancelled when it ends. `Watch` is the one the command line
uses: it subscribes to the engine's event bus, folds every event into a `Ledger`, logs it
(ui/logs.py), hands it to a display, and asks the display to redraw from `torrent.status()` at
the display's own pace. It never blocks the engine: the bus drops events rather than wait, and
every display draws from this trio task (rich's auto-refresh thread is off).

Displays (duck-typed; `interval` None = no periodic redraw):

    checking(name, checked, total, now) while data found on disk is hashed (optional; total 0:
                                      not known yet), then checking_done()
    start(watch, status)              once, when the torrent has started
    event(event)                      for every engine event
    refresh(status, ledger, now)      every `interval` seconds
    close(status, ledger)             once, when the transfer ends (also on Ctrl-C)

LiveDisplay (ui/live.py) on a terminal, PlainDisplay (ui/plain.py) when piped, JsonDisplay
(ui/json_events.py) for --json; none for --quiet.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from torrentish import events as ev
from torrentish.errors import TorrentishError
from torrentish.ui.json_events import Clock
from torrentish.ui.ledger import Ledger
from torrentish.ui.logs import log_event
from torrentish.ui.sink import OutputSink

class OutputClosed(TorrentishError):
    """Whoever read our standard output has closed it (`torrentish get ... | head -1`)."""


EVENT_BUFFER = 10_000  # events a slow display may fall behind by before some are dropped


class Watch:
    """The view the command line hands to get/seed/demo; `ledger` and `events_dropped` outlive it."""

    def __init__(self, display: Any = None, *, command: str = "get", output: OutputSink | None = None):
        self.display = display
        self.command = command
        self.output = output  # where the display writes: a closed one ends the transfer
        self.ledger = Ledger()
        self.port = 0
        self.t0 = 0.0
        self.clock = Clock(0.0)  # replaced when the transfer starts; until then t counts from here
        self.events_dropped = 0  # events the bus dropped because this view fell behind
        self._early: trio.MemoryReceiveChannel | None = None  # from subscribe(), until __call__

    def now(self) -> float:
        return trio.current_time()

    def subscribe(self, client) -> None:
        """Start hearing the engine's events now, before the torrent is added (the transfer calls
        this first): what happens between the torrent's start and this view's (the first
        connections, a tracker's first reply) is then in the ledger too."""
        self._early = client.events.subscribe(EVENT_BUFFER)

    async def __call__(self, client, torrent) -> None:
        self.port = client.port
        receive, self._early = self._early or client.events.subscribe(EVENT_BUFFER), None
        self.t0 = torrent.started_at
        now = trio.current_time()
        self.clock = Clock(self.t0, time.time() - (now - self.t0))
        with receive:
            status = torrent.status()
            self.ledger.observe(status)
            if self.display is not None:
                self.display.start(self, status)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._follow, receive)
                    if self.output is not None:
                        nursery.start_soon(self._fail_when_output_closes, self.output)
                    await self._redraw(torrent)
            finally:
                self._drain(receive)
                self.events_dropped = client.events.dropped_for(receive)
                status = torrent.status()
                self.ledger.observe(status)
                if self.display is not None:
                    self.display.close(status, self.ledger)

    async def checking(self, client, name: str) -> None:
        """Runs while the data already on disk is checked, before the torrent (and __call__)
        starts: the display, if it can, shows that check's progress."""
        show = getattr(self.display, "checking", None)
        if show is None:
            return
        receive = client.events.subscribe(EVENT_BUFFER)
        with receive:
            show(name, 0, 0, trio.current_time())
            try:
                async for event in receive:
                    if isinstance(event, ev.CheckingProgress):
                        show(name, event.checked, event.total, trio.current_time())
            finally:
                self.display.checking_done()

    def handle(self, event: ev.Event) -> None:
        self.ledger.apply(event)
        log_event(event)
        if self.display is not None:
            self.display.event(event)

    async def _follow(self, receive: trio.MemoryReceiveChannel) -> None:
        async for event in receive:
            if not isinstance(event, ev.CheckingProgress):  # that is `checking`'s to show
                self.handle(event)

    async def _fail_when_output_closes(self, output: OutputSink) -> None:
        """The reader of our output went away (EPIPE): end the transfer, cleanly, with one line."""
        closed = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def wake() -> None:  # called from the sink's writer thread
            try:
                token.run_sync_soon(closed.set)
            except trio.RunFinishedError:
                pass

        output.on_closed = wake
        if output.reader_gone:
            closed.set()
        await closed.wait()
        raise OutputClosed("standard output was closed")

    def _drain(self, receive: trio.MemoryReceiveChannel) -> None:
        """Take what is already queued, without waiting (we may be cancelled)."""
        while True:
            try:
                self.handle(receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return

    async def _redraw(self, torrent) -> None:
        interval = getattr(self.display, "interval", None)
        if interval is None:
            await trio.sleep_forever()
        while True:
            await trio.sleep(interval)
            status = torrent.status()
            self.ledger.observe(status)
            self.display.refresh(status, self.ledger, trio.current_time())
