"""Views of a running transfer: a rich live view on a terminal, plain lines otherwise.

A view is an async callable `view(client, torrent)` that runs beside the transfer and reads
`torrent.status()` and the client's event bus. It never blocks the engine: rich renders from
this trio task (auto_refresh off, no rich thread).
"""

from __future__ import annotations

import sys
import time

import trio
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from torrentish.engine import events as ev
from torrentish.engine.status import TorrentStatus
from torrentish.units import format_duration, format_rate, format_size

REFRESH = 0.5  # seconds between screen updates
PLAIN_EVERY = 5.0  # seconds between status lines when not on a terminal
MAX_PEER_ROWS = 8
MAX_FILE_ROWS = 6


def summary_line(s: TorrentStatus) -> str:
    eta = s.eta
    parts = [
        f"{s.progress * 100:5.1f}%",
        f"{format_size(s.done)}/{format_size(s.total)}",
        f"down {format_rate(s.down_rate)}",
        f"up {format_rate(s.up_rate)}",
        f"peers {len(s.peers)}",
    ]
    if s.state == "downloading" and eta is not None:
        parts.append(f"eta {format_duration(eta)}")
    if s.state == "seeding":
        parts.append(f"uploaded {format_size(s.uploaded)}")
    return f"{s.state:<11} " + "  ".join(parts)


def render(s: TorrentStatus, width: int) -> Group:
    """The live view: header, overall bar, files (multi-file), peers."""
    header = Text(s.name, style="bold", overflow="ellipsis", no_wrap=True)
    bar = ProgressBar(total=max(s.total, 1), completed=s.done, width=max(10, width - 2))
    line = Text(summary_line(s), overflow="ellipsis", no_wrap=True)
    swarm = Text(
        f"seeds {s.seeds_connected}  leechers {len(s.peers) - s.seeds_connected}  "
        f"known {s.known_peers}  availability {s.availability:.2f}  ratio {s.ratio:.2f}",
        style="dim",
        overflow="ellipsis",
        no_wrap=True,
    )
    parts: list = [header, bar, line, swarm]
    if len(s.files) > 1:
        files = Table(box=None, show_header=False, pad_edge=False, expand=True)
        files.add_column("file", ratio=1, overflow="ellipsis", no_wrap=True)
        files.add_column("pct", justify="right", width=6)
        files.add_column("size", justify="right", width=10)
        shown = sorted(s.files, key=lambda f: (f.done >= f.length, f.path))[:MAX_FILE_ROWS]
        for f in shown:
            pct = "skip" if not f.wanted else f"{100 * f.done / f.length:.0f}%" if f.length else "100%"
            files.add_row(f.path, pct, format_size(f.length))
        if len(s.files) > MAX_FILE_ROWS:
            files.add_row(f"... {len(s.files) - MAX_FILE_ROWS} more files", "", "")
        parts.append(files)
    if s.peers:
        peers = Table(box=None, pad_edge=False, expand=True, header_style="dim")
        peers.add_column("peer", overflow="ellipsis", no_wrap=True, ratio=2)
        peers.add_column("client", overflow="ellipsis", no_wrap=True, ratio=2)
        peers.add_column("flags", width=5)
        peers.add_column("down", justify="right", width=11)
        peers.add_column("up", justify="right", width=11)
        peers.add_column("has", justify="right", width=5)
        for p in s.peers[:MAX_PEER_ROWS]:
            peers.add_row(
                f"{p.address[0]}:{p.address[1]}",
                p.client,
                p.flags,
                format_rate(p.down_rate),
                format_rate(p.up_rate),
                f"{p.progress * 100:.0f}%",
            )
        if len(s.peers) > MAX_PEER_ROWS:
            peers.add_row(f"... {len(s.peers) - MAX_PEER_ROWS} more", "", "", "", "", "")
        parts.append(peers)
    return Group(*parts)


def live_view(console: Console):
    async def view(client, torrent) -> None:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    live.update(render(torrent.status(), console.width), refresh=True)
                    await trio.sleep(REFRESH)
            finally:
                live.update(render(torrent.status(), console.width), refresh=True)

    return view


def plain_view(stream=None):
    """Timestamped lines: a status line every few seconds and one on every state change."""
    out = stream or sys.stderr

    def emit(text: str) -> None:
        out.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        out.flush()

    async def view(client, torrent) -> None:
        events = client.events.subscribe()
        last = -PLAIN_EVERY
        async with trio.open_nursery() as nursery:

            async def on_events() -> None:
                async for event in events:
                    if isinstance(event, ev.StateChanged):
                        emit(f"state: {event.state}")
                    elif isinstance(event, ev.PeerBanned):
                        emit(f"banned {event.address[0]}:{event.address[1]}: {event.reason}")
                    elif isinstance(event, ev.PieceFailed):
                        emit(f"piece {event.index} failed its hash check")

            nursery.start_soon(on_events)
            while True:
                now = trio.current_time()
                if now - last >= PLAIN_EVERY:
                    emit(summary_line(torrent.status()))
                    last = now
                await trio.sleep(1.0)

    return view
