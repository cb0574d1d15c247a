"""Logging for the command line: levels from -q/-v, an optional --log-file, events as log lines.

Engine events become log records on the ``torrentish.events`` logger (`log_event`): warnings
(hash failures, bans, tracker errors) show by default, peers and trackers with ``-v``, every piece
with ``-vv``. On a terminal the records are printed through the live view's console, so they appear
above the view instead of tearing it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

from torrentish import events as ev
from torrentish.formats.units import format_duration, format_size

LOGGER = logging.getLogger("torrentish")
EVENTS = logging.getLogger("torrentish.events")


def console_level(verbose: int, quiet: bool) -> int:
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def plain_reason(reason: str) -> str:
    """"[Errno 111] Connection refused" -> "connection refused": what a person reads."""
    if reason == "TooSlowError":  # trio's timeout, named by its type when it has no message
        return "timed out"
    text = reason.replace("socket connection broken: ", "")
    # "[Errno 104] Connection reset by peer" -> "connection reset by peer", wherever it appears
    return re.sub(r"\[Errno -?\d+\] ([A-Z])(?=[a-z]+\b)", lambda m: m.group(1).lower(), text)


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# The level each event type is logged at; types not listed (progress) are not logged.
LEVELS: dict[type, int] = {
    ev.StateChanged: logging.INFO,
    ev.PeerConnected: logging.INFO,
    ev.PeerDisconnected: logging.INFO,
    ev.ConnectFailed: logging.DEBUG,
    ev.PeerBanned: logging.WARNING,
    ev.PieceVerified: logging.DEBUG,
    ev.PieceFailed: logging.WARNING,
    ev.CheckingProgress: logging.DEBUG,
    ev.Completed: logging.INFO,
    ev.TrackerReply: logging.INFO,
    ev.TrackerFailed: logging.WARNING,
    # A share's link names a web seed on every address of its machine, most of them out of
    # reach of any one downloader: not worth a warning each, the peers carry on.
    ev.WebSeedFailed: logging.INFO,
    ev.PeersFound: logging.INFO,
    ev.PortMapped: logging.INFO,
    ev.Holepunch: logging.INFO,
    # Most networks have no gateway for one protocol or another: not worth a warning.
    ev.PortMappingFailed: logging.INFO,
    ev.Warning: logging.WARNING,
    ev.TorrentAdded: logging.INFO,
    ev.TorrentRemoved: logging.INFO,
    ev.TorrentError: logging.ERROR,
}


def describe(event: ev.Event) -> str | None:
    """One line for an event; None for events that have no line (progress)."""
    match event:
        case ev.StateChanged(state=state):
            return f"state: {state}"
        case ev.PeerConnected(address=a, client=client, outgoing=outgoing, encryption=encryption,
                              transport=transport):
            way = "connected to" if outgoing else "accepted"
            how = ("" if transport == "tcp" else ", uTP") + ("" if encryption == "none" else f", {encryption}")
            return f"{way} {format_address(a)} ({client}{how})"
        case ev.PeerDisconnected(address=a, reason=reason, downloaded=down, uploaded=up):
            moved = f"; got {format_size(down)}, sent {format_size(up)}" if down or up else ""
            return f"dropped {format_address(a)}: {plain_reason(reason)}{moved}"
        case ev.ConnectFailed(address=a, reason=reason):
            return f"could not connect to {format_address(a)}: {plain_reason(reason)}"
        case ev.PeerBanned(address=a, reason=reason):
            return f"banned {format_address(a)}: {reason}"
        case ev.PieceVerified(index=index):
            return f"piece {index} verified"
        case ev.PieceFailed(index=index, peers=peers):
            who = ", ".join(format_address(a) for a in peers) or "unknown peers"
            return f"piece {index} failed its hash check (data from {who})"
        case ev.CheckingProgress(checked=checked, total=total):
            return f"checked {checked} of {total} pieces found on disk"
        case ev.Completed(downloaded=down, elapsed=elapsed):
            return f"complete: {format_size(down)} verified in {format_duration(elapsed)}"
        case ev.TrackerReply(url=url, peers=peers, seeders=s, leechers=n, interval=interval):
            swarm = f", swarm {s} seeds {n} leechers" if s is not None and n is not None else ""
            return f"tracker {url}: {peers} peers{swarm}; next announce in {format_duration(interval)}"
        case ev.TrackerFailed(url=url, reason=reason):
            return f"tracker {url}: {plain_reason(reason)}"
        case ev.WebSeedFailed(url=url, reason=reason, dropped=dropped):
            return f"web seed {url}: {plain_reason(reason)}{'; dropped' if dropped else ''}"
        case ev.PeersFound(source=source, count=count):
            return f"{source}: {count} peers"
        case ev.PortMapped(protocol=protocol, transport=transport, internal_port=inside,
                           external_address=address, external_port=outside, lifetime=lifetime):
            lease = f"for {format_duration(lifetime)}" if lifetime else "until removed"
            where = f"{address}:{outside}" if address else f"port {outside}"
            return f"port mapping ({protocol}): {transport.upper()} {where} -> our port {inside}, {lease}"
        case ev.PortMappingFailed(protocol=protocol, transport=transport, reason=reason):
            what = f" {transport.upper()}" if transport else ""
            return f"port mapping ({protocol}){what}: {reason}"
        case ev.Holepunch(stage=stage, address=address, via=via, reason=reason):
            through = f" via {format_address(via)}" if via else ""
            return f"holepunch {format_address(address)}{through}: {stage}{': ' + reason if reason else ''}"
        case ev.Warning(message=message):
            return message
        case ev.TorrentAdded(id=ident, name=name):
            return f"torrent {ident} added: {name}"
        case ev.TorrentRemoved(id=ident, info_hash=info_hash):
            return f"torrent {ident} removed ({info_hash})"
        case ev.TorrentError(id=ident, message=message):
            return f"torrent {ident} stopped: {message}"
    return None


def log_event(event: ev.Event) -> None:
    """Log one event at its level; costs one dictionary look-up when that level is off."""
    level = LEVELS.get(type(event))
    if level is not None and EVENTS.isEnabledFor(level):
        text = describe(event)
        if text is not None:
            EVENTS.log(level, text)


class ConsoleHandler(logging.Handler):
    """Records as "HH:MM:SS message" lines on a rich console (above a live view, if one runs)."""

    STYLES = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}

    def __init__(self, console, level: int):
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
            line = Text(f"{stamp} ", style="dim")
            prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
            line.append(prefix + record.getMessage(), style=self.STYLES.get(record.levelno, ""))
            if record.exc_info:
                line.append("\n" + logging.Formatter().formatException(record.exc_info))
            self.console.print(line, soft_wrap=True, highlight=False)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(verbose: int = 0, quiet: bool = False, log_file: Path | None = None, console=None,
                  stream=None) -> None:
    """Configure the ``torrentish`` logger for one command run (replacing earlier handlers).

    Console records go to `console` (a rich Console) when given, else to `stream` (default
    stderr; the commands pass an OutputSink, so logging never waits on a slow reader) as plain
    timestamped lines. The log file records INFO and up (DEBUG with -vv) whatever -q says.
    """
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    level = console_level(verbose, quiet)
    if console is not None:
        LOGGER.addHandler(ConsoleHandler(console, level))
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setLevel(level)
        handler.setFormatter(_PlainFormatter())
        LOGGER.addHandler(handler)
    lowest = level
    if log_file is not None:
        file_level = logging.DEBUG if verbose >= 2 else logging.INFO
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as error:
            from torrentish.errors import StorageError

            raise StorageError(f"cannot open the log file {log_file}: {error.strerror or error}") from None
        handler.setLevel(file_level)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        LOGGER.addHandler(handler)
        lowest = min(lowest, file_level)
    LOGGER.setLevel(lowest)
    LOGGER.propagate = False


class _PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        text = f"{self.formatTime(record, self.datefmt)} {prefix}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text
