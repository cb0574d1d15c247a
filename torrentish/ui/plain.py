"""The view when the output is not a terminal (piped, CI, a log): timestamped status lines.

A line every few seconds while something is moving, one at every state change, and nothing else:
no colours, no cursor movement, so `grep` and a CI log read it as it is. Warnings and, with -v,
peers come as log lines on stderr (ui/logs.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from torrentish import events as ev
from torrentish.engine.status import TorrentStatus
from torrentish.ui.ledger import Ledger
from torrentish.ui.sink import OutputSink
from torrentish.formats.units import format_duration, format_rate, format_size

EVERY = 5.0  # seconds between status lines
IDLE_EVERY = 60.0  # when nothing moves (a seed nobody asks, a stalled download)
CHECK_QUIET = 1.0  # a check of existing data shorter than this is not mentioned


def status_line(s: TorrentStatus) -> str:
    if s.state == "seeding":
        parts = [
            f"{format_size(s.total)}",
            f"up {format_rate(s.up_rate)}",
            f"uploaded {format_size(s.uploaded)}",
            f"peers {len(s.peers)}",
            f"ratio {s.ratio:.2f}",
        ]
    else:
        percent = min(s.progress * 100, 99.9) if s.done < s.total else 100.0
        parts = [
            f"{percent:5.1f}%",
            f"{format_size(s.done)}/{format_size(s.total)}",
            f"down {format_rate(s.down_rate)}",
            f"up {format_rate(s.up_rate)}",
            f"peers {len(s.peers)}",
        ]
        if s.state == "downloading":
            parts.append(f"eta {format_duration(s.eta)}")
    return f"{s.state:<11} " + "  ".join(parts)


class PlainDisplay:
    interval = 1.0

    def __init__(self, stream: IO[str], every: float = EVERY, clock: Callable[[], float] = time.time):
        self.stream = stream
        self.every = every
        self.clock = clock
        self._last_line = 0.0  # trio time of the last status line
        self._check_began: float | None = None
        self._check_shown = False
        self._state_changed = False

    def emit(self, text: str, replaces: str | None = None) -> None:
        """A timestamped line; `replaces`: a key under which a newer line takes this one's place
        while both still wait to be written (ui/sink.py: status lines coalesce)."""
        line = f"{self.stamp()} {text}\n"
        if replaces is not None and isinstance(self.stream, OutputSink):
            self.stream.write(line, replaces=replaces)
        else:
            self.stream.write(line)
        self.stream.flush()

    def stamp(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.clock()))

    def dropped_notice(self, count: int) -> str:
        return f"{self.stamp()} (output was blocked: {count} lines dropped)\n"

    def checking(self, name: str, checked: int, total: int, now: float) -> None:
        # A check over within CHECK_QUIET seconds prints nothing: the first line of a quick
        # start stays the one that names the port.
        if self._check_began is None:
            self._check_began = now
        if not total or now - self._check_began < CHECK_QUIET:
            return
        if not self._check_shown or checked == total or now - self._last_line >= self.every:
            self.emit(f"checking {name}: {checked}/{total} pieces ({100 * checked // total}%)", replaces="checking")
            self._last_line = now
            self._check_shown = True

    def checking_done(self) -> None:
        pass

    def start(self, watch, status: TorrentStatus) -> None:
        what = f"{format_size(status.total)} in {status.num_pieces} pieces"
        self.emit(f"{status.state} {status.name} ({what}); listening on port {watch.port}")
        self._last_line = watch.now()

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.StateChanged):
            self._state_changed = True

    def refresh(self, status: TorrentStatus, ledger: Ledger, now: float) -> None:
        moving = status.down_rate >= 1 or status.up_rate >= 1
        due = now - self._last_line >= (self.every if moving else IDLE_EVERY)
        if self._state_changed or due:
            self._state_changed = False
            self._last_line = now
            self.emit(status_line(status), replaces="status")

    def close(self, status: TorrentStatus, ledger: Ledger) -> None:
        pass  # the command prints the summary line
