"""How a transfer command reports, chosen once from its flags and where stdout goes.

    live   stdout is a terminal: the rich live view, log lines above it, a coloured summary
    plain  stdout is not a terminal (pipe, file, CI): timestamped status lines
    json   --json: JSON lines on stdout (docs/events.md); human lines go to stderr
    quiet  -q: nothing but errors

Logging follows -v/-q/--log-file in every mode (ui/logs.py).

Nothing the engine does waits on stdout or stderr: every display and the log handler write to an
`OutputSink` (ui/sink.py), whose thread does the writing. A reader that stops reading costs
dropped lines (counted, and said when output resumes), never a stalled transfer; a closed stdout
ends the command with one line (`OutputClosed`, raised by the view).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path
from typing import IO

from torrentish.ui.logs import setup_logging
from torrentish.ui.sink import OutputSink
from torrentish.ui.summary import Outcome, summary_text
from torrentish.ui.views import Watch


def choose_mode(*, as_json: bool, quiet: bool, is_terminal: bool) -> str:
    if as_json:
        return "json"
    if quiet:
        return "quiet"
    return "live" if is_terminal else "plain"


class Output:
    def __init__(
        self,
        *,
        command: str,
        as_json: bool = False,
        quiet: bool = False,
        verbose: int = 0,
        log_file: Path | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ):
        self._real_stdout = stdout or sys.stdout
        self.stdout = OutputSink(self._real_stdout)
        self.stderr = OutputSink(stderr or sys.stderr)
        # A dumb terminal (Emacs shell, some CI consoles) cannot move the cursor: plain lines there.
        terminal = self.stdout.isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")
        self.mode = choose_mode(as_json=as_json, quiet=quiet, is_terminal=terminal)
        self.console = None
        display = None
        if self.mode == "live":
            from rich.console import Console

            from torrentish.ui.live import LiveDisplay

            self.console = Console(file=self.stdout)
            display = LiveDisplay(self.console)
        elif self.mode == "plain":
            from torrentish.ui.plain import PlainDisplay

            display = PlainDisplay(self.stdout)
        elif self.mode == "json":
            from torrentish.ui.json_events import JsonDisplay

            display = JsonDisplay(self.stdout)
        notice = getattr(display, "dropped_notice", None)
        if notice is not None:
            self.stdout.notice = notice
        setup_logging(verbose, quiet, log_file, console=self.console, stream=self.stderr)
        self.watch = Watch(display, command=command, output=self.stdout)
        atexit.register(self.close)  # what is still buffered when a command ends some other way

    def say(self, text: str, style: str = "") -> None:
        """A line for people: stdout normally (timestamped when plain), stderr under --json, nowhere
        under -q."""
        if self.mode == "quiet":
            return
        if self.console is not None:
            self.console.print(text, style=style, highlight=False, soft_wrap=True, markup=False)
        elif self.mode == "json":
            self.stderr.write(text + "\n")
            self.stderr.flush()
        else:  # plain: timestamped like the status lines
            stamp = time.strftime("%H:%M:%S ")
            self.stdout.write("".join(stamp + line + "\n" for line in text.split("\n")))
            self.stdout.flush()

    def finish(self, outcome: Outcome, exit_code: int) -> None:
        """The closing summary: a line for people and, under --json, the summary record."""
        self._never_drop()
        style = "bold green" if outcome.outcome in ("complete", "seeded") else "yellow"
        self.say(summary_text(outcome), style=style)
        if self.mode == "json":
            from torrentish.ui.json_events import JsonWriter, summary_record

            watch = self.watch
            JsonWriter(self.stdout).write(
                summary_record(
                    at=watch.clock.now(),
                    clock=watch.clock,
                    outcome=outcome.outcome,
                    name=outcome.name,
                    total=outcome.total,
                    done=outcome.done,
                    downloaded=outcome.downloaded,
                    uploaded=outcome.uploaded,
                    elapsed=outcome.elapsed,
                    average_down_rate=outcome.average_rate,
                    peers_used=outcome.peers_used,
                    peers_served=outcome.peers_served,
                    peers_seen=watch.ledger.peers_seen,
                    ratio=outcome.ratio,
                    exit_code=exit_code,
                    events_dropped=watch.events_dropped,
                )
            )
        self.close()

    def fail(self, message: str, exit_code: int) -> None:
        """Under --json, the error record that ends the stream (the red line is cli/errors.py's)."""
        self._never_drop()
        if self.mode == "json":
            from torrentish.ui.json_events import JsonWriter, error_record

            clock = self.watch.clock
            JsonWriter(self.stdout).write(error_record(message, exit_code, clock, clock.now()))
        self.close()

    def _never_drop(self) -> None:
        for sink in (self.stdout, self.stderr):
            sink.never_drop()

    def close(self) -> None:
        """Write what is buffered (waiting a few seconds at most for a stuck reader)."""
        for sink in (self.stdout, self.stderr):
            sink.close()
        if self.stdout.reader_gone:
            # Nothing more can reach the closed stdout; without this, the interpreter's own
            # flush at exit would print a BrokenPipeError.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._real_stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                pass
