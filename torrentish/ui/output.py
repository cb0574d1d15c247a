"""How a transfer command reports, chosen once from its flags and where stdout goes.

    live   stdout is a terminal: the rich live view, log lines above it, a coloured summary
    plain  stdout is not a terminal (pipe, file, CI): timestamped status lines
    json   --json: JSON lines on stdout (docs/events.md); human lines go to stderr
    quiet  -q: nothing but errors

Logging follows -v/-q/--log-file in every mode (ui/logs.py).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO

from torrentish.ui.logs import setup_logging
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
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
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
        setup_logging(verbose, quiet, log_file, console=self.console)
        self.watch = Watch(display, command=command)

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

    def fail(self, message: str, exit_code: int) -> None:
        """Under --json, the error record that ends the stream (the red line is cli/errors.py's)."""
        if self.mode == "json":
            from torrentish.ui.json_events import JsonWriter, error_record

            clock = self.watch.clock
            JsonWriter(self.stdout).write(error_record(message, exit_code, clock, clock.now()))
