"""The live view on a terminal: one rich renderable redrawn in place from a trio task.

`render(status, ledger, width, height)` is a pure function of a snapshot (tests render it to a
string at a fixed size). It never draws more lines than the terminal has, and never a line wider
than it: a line that wrapped or scrolled would break rich's in-place redraw (the view would
smear down the screen), so every line is cropped, less important parts are dropped first on
narrow terminals, and the file and peer tables get the rows that are left.

`LiveDisplay` redraws twice a second with auto_refresh off (no rich thread: the engine's trio
loop does the drawing, so it costs a render every 0.5 s and nothing per block).
"""

from __future__ import annotations

from dataclasses import replace

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.constrain import Constrain
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from torrentish.engine.status import FileStatus, PeerStatus, TorrentStatus
from torrentish.ui.ledger import Ledger
from torrentish.ui.logs import format_address
from torrentish.formats.units import format_duration, format_rate, format_size

REFRESH = 0.5  # seconds between redraws
STATE_STYLES = {
    "downloading": "cyan",
    "seeding": "green",
    "finished": "green",
    "checking": "yellow",
    "complete": "bold green",
    "stopped": "yellow",
}
WIDE = 110  # from this width the peer table shows per-peer totals
MAX_WIDTH = 120  # wider terminals get a view of this width: columns far apart are hard to read


def _part(label: str, value: str, style: str = "") -> Text:
    text = Text(f"{label} ", style="dim") if label else Text()
    text.append(value, style=style)
    return text


def fit(parts: list[tuple[int, Text]], width: int, separator: str = "  ") -> Text:
    """Join the parts in their order, leaving out the least important (highest number) until the
    line fits in `width` cells; what still does not fit is cropped with an ellipsis."""
    kept = list(parts)
    while len(kept) > 1 and sum(t.cell_len for _, t in kept) + len(separator) * (len(kept) - 1) > width:
        drop = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        del kept[drop]
    line = Text(separator).join(t for _, t in kept)
    line.truncate(width, overflow="ellipsis")
    line.no_wrap = True
    return line


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def state_label(s: TorrentStatus) -> Text:
    state = s.state
    if state == "downloading" and not s.peers and not any(w.dropped is None for w in s.web_seeds):
        state = "waiting for peers"
    return Text(state, style=STATE_STYLES.get(s.state, "dim"))


def _header(s: TorrentStatus) -> Table:
    grid = Table.grid(expand=True, padding=(0, 0, 0, 2))
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(Text(s.name, style="bold"), state_label(s))
    return grid


def _bar(s: TorrentStatus) -> Table:
    grid = Table.grid(expand=True, padding=(0, 0, 0, 1))
    grid.add_column(ratio=1, no_wrap=True)
    grid.add_column(justify="right", width=6, no_wrap=True)
    # Never show 100% before the last byte is verified.
    shown = f"{min(s.progress * 100, 99.9):.1f}%" if s.done < s.total else "100%"
    grid.add_row(ProgressBar(total=max(s.total, 1), completed=s.done), shown)
    return grid


def transfer_line(s: TorrentStatus, width: int) -> Text:
    """Sizes, rates, eta, time and ratio; on a narrow terminal the least useful go first."""
    seeding = s.state == "seeding"
    parts: list[tuple[int, Text]] = []
    if seeding and s.downloaded == 0:
        parts.append((0, _part("", format_size(s.total), "bold")))
    else:
        parts.append((0, _part("", f"{format_size(s.done)} / {format_size(s.total)}", "bold")))
        parts.append((0, _part("down", format_rate(s.down_rate), "cyan")))
    parts.append((1 if seeding else 2, _part("up", format_rate(s.up_rate), "green")))
    if s.state == "downloading":
        parts.append((1, _part("eta", format_duration(s.eta))))
    if s.uploaded or seeding:
        parts.append((1 if seeding else 4, _part("uploaded", format_size(s.uploaded))))
        parts.append((2 if seeding else 5, _part("ratio", f"{s.ratio:.2f}")))
    parts.append((3, _part("time", format_duration(s.elapsed))))
    return fit(parts, width)


def swarm_line(s: TorrentStatus, ledger: Ledger | None, width: int) -> Text:
    if s.state in ("complete", "stopped") and ledger is not None:  # the last frame: who took part
        used, served = ledger.peers_used, ledger.peers_served
        parts = [(0, _part("peers", f"{ledger.peers_seen} seen, {used} sent data, {served} got data"))]
        if s.web_seeds:
            parts.append((1, _part("web seeds", f"{ledger.web_seeds_used} sent data")))
        return fit(parts, width)
    seeds, leechers = s.seeds_connected, s.leechers_connected
    parts: list[tuple[int, Text]] = [
        (0, _part("peers", f"{len(s.peers)} ({plural(seeds, 'seed')}, {plural(leechers, 'leecher')})")),
    ]
    if s.web_seeds:  # HTTP servers (BEP 19): how many we still fetch from
        live = sum(1 for w in s.web_seeds if w.dropped is None)
        parts.append((2, _part("web seeds", str(live) if live == len(s.web_seeds) else f"{live} of {len(s.web_seeds)}")))
    if s.state == "downloading":  # whether the swarm holds every piece we still need
        parts.append((1, _part("availability", f"{s.availability:.2f}", "" if s.availability >= 1 else "yellow")))
    if s.state == "downloading" and s.known_peers > len(s.peers):  # addresses we could still dial
        parts.append((3, _part("known", str(s.known_peers))))
    if ledger is not None:
        swarm_seeds, swarm_leechers = ledger.swarm
        if swarm_seeds is not None or swarm_leechers is not None:
            known = f"{swarm_seeds if swarm_seeds is not None else '?'} seeds, " \
                    f"{swarm_leechers if swarm_leechers is not None else '?'} leechers"
            parts.insert(1, (2, _part("swarm", known)))
        if ledger.reachable_at is not None:  # through a port mapping on the NAT gateway
            parts.append((4, _part("reachable at", ledger.reachable_at)))
        if ledger.failed_pieces:
            parts.append((2, _part("", f"{plural(ledger.failed_pieces, 'bad piece')}", "yellow")))
        if ledger.banned:
            parts.append((2, _part("", f"{ledger.banned} banned", "yellow")))
    return fit(parts, width)


def _file_order(f: FileStatus) -> int:
    if not f.wanted:
        return 3
    if f.done >= f.length:
        return 2
    return 0 if f.done else 1  # in progress first, then not started


def files_table(files: tuple[FileStatus, ...], width: int, rows: int, prefix: str = "") -> RenderableType:
    """A title line and up to `rows` - 1 file rows (in progress first), with a "more" row when cut."""
    complete = sum(1 for f in files if f.wanted and f.done >= f.length)
    wanted = sum(1 for f in files if f.wanted)
    title = Text(f"files  {complete} of {wanted} complete", style="dim", no_wrap=True, overflow="ellipsis")
    if wanted < len(files):
        title.append(f", {len(files) - wanted} skipped", style="dim")
    title.truncate(width, overflow="ellipsis")
    table = Table(box=None, show_header=False, expand=True, padding=(0, 0, 0, 2), pad_edge=False)
    table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    bar_width = 20 if width >= WIDE else 10
    if width >= 60:
        table.add_column(width=bar_width, no_wrap=True)
    table.add_column(justify="right", width=5, no_wrap=True)
    table.add_column(justify="right", width=10, no_wrap=True)
    shown = sorted(files, key=_file_order)
    room = max(rows - 1, 1)
    if len(shown) > room:
        shown = shown[: room - 1]
    for f in shown:
        pct = "skip" if not f.wanted else f"{100 * f.done / f.length:.0f}%" if f.length else "100%"
        path = f.path[len(prefix):] if prefix and f.path.startswith(prefix) else f.path  # the header has the name
        cells: list[RenderableType] = [Text(path, style="" if f.wanted else "dim")]
        if width >= 60:
            cells.append(ProgressBar(total=max(f.length, 1), completed=f.done if f.wanted else 0, width=bar_width))
        cells += [pct, format_size(f.length)]
        table.add_row(*cells)
    if len(shown) < len(files):
        table.add_row(Text(f"… {len(files) - len(shown)} more", style="dim"))
    return Group(title, table)


def peers_table(peers: tuple[PeerStatus, ...], width: int, rows: int, seeding: bool = False) -> Table:
    """A header and up to `rows` - 1 peers, busiest first, with a "more" row when cut. Narrow
    terminals lose the client column, then the rate that does not matter now (up while
    downloading, down while seeding)."""
    wide, narrow, tiny = width >= WIDE, width < 64, width < 56
    show_down, show_up = not (tiny and seeding), not (tiny and not seeding)
    table = Table(box=None, expand=True, padding=(0, 0, 0, 2), pad_edge=False, header_style="dim")
    table.add_column("peer", no_wrap=True, overflow="ellipsis", ratio=1, min_width=12)
    if not narrow:
        table.add_column("client", no_wrap=True, overflow="ellipsis", ratio=1, min_width=8)
    table.add_column("flags", no_wrap=True, width=5)
    if show_down:
        table.add_column("down", justify="right", no_wrap=True, width=11)
    if show_up:
        table.add_column("up", justify="right", no_wrap=True, width=11)
    if wide:
        table.add_column("got", justify="right", no_wrap=True, width=10)
        table.add_column("sent", justify="right", no_wrap=True, width=10)
    table.add_column("has", justify="right", no_wrap=True, width=4)
    room = max(rows - 1, 1)
    shown = list(peers) if len(peers) <= room else list(peers[: room - 1])
    for p in shown:
        cells = [format_address(p.address)]
        if not narrow:
            cells.append(p.client)
        cells.append(p.flags)
        if show_down:
            cells.append(format_rate(p.down_rate) if p.down_rate >= 1 else "-")
        if show_up:
            cells.append(format_rate(p.up_rate) if p.up_rate >= 1 else "-")
        if wide:
            cells += [format_size(p.downloaded), format_size(p.uploaded)]
        cells.append(f"{p.progress * 100:.0f}%")
        table.add_row(*cells)
    if len(shown) < len(peers):
        table.add_row(Text(f"… {len(peers) - len(shown)} more", style="dim"))
    return table


def _no_peers_line(s: TorrentStatus, ledger: Ledger | None, width: int) -> Text:
    if s.state == "seeding":
        line = Text("no peers connected; waiting for leechers", style="dim")
    elif not s.known_peers:
        line = Text("no peers known yet", style="dim")
    else:
        line = Text("connecting to peers…", style="dim")
        if ledger is not None and ledger.last_connect_error:
            line.append(f" last try: {ledger.last_connect_error}", style="dim")
    line.truncate(width, overflow="ellipsis")
    return line


def render(s: TorrentStatus, ledger: Ledger | None, width: int, height: int) -> RenderableType:
    """The whole view, at most `height` - 1 lines of at most min(`width`, MAX_WIDTH) cells."""
    width = min(width, MAX_WIDTH)
    parts: list[RenderableType] = [
        _header(s),
        _bar(s),
        transfer_line(s, width),
        swarm_line(s, ledger, width),
    ]
    room = height - 1 - len(parts)  # the last terminal line stays for the cursor
    multi = len(s.files) > 1
    if multi and room >= 2:
        file_need = len(s.files) + 1
        peer_share = min(len(s.peers) + 1 if s.peers else 1, max(2, room // 2))
        file_rows = max(2, min(file_need, room - peer_share))
        parts.append(files_table(s.files, width, file_rows, prefix=s.name + "/"))
        room -= min(file_need, file_rows)
    if room >= 2 and s.peers:
        parts.append(peers_table(s.peers, width, room, seeding=s.state == "seeding"))
    elif room >= 1 and not s.peers and s.state in ("downloading", "seeding"):
        parts.append(_no_peers_line(s, ledger, width))
    return Constrain(Group(*parts), width)


def checking_line(name: str, checked: int, total: int, width: int) -> RenderableType:
    """`checking NAME  ━━━━━━━━━━  40%  410/1024 pieces`, fitted to the width."""
    width = min(width, MAX_WIDTH)
    if not total:
        return Text.assemble(("checking ", STATE_STYLES["checking"]), (name, "bold"), " ...",
                             overflow="ellipsis", no_wrap=True)
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column(width=max(10, width // 3))
    table.add_column(justify="right", no_wrap=True)
    table.add_row(Text.assemble(("checking ", STATE_STYLES["checking"]), (name, "bold")),
                  ProgressBar(total=total, completed=checked),
                  f"{100 * checked // total:3d}%  {checked}/{total} pieces")
    return Constrain(table, width)


class LiveDisplay:
    """Draws `render` in place on a terminal console."""

    interval = REFRESH

    def __init__(self, console: Console):
        self.console = console
        self._live: Live | None = None
        self._checking: Live | None = None
        self._command = "get"
        self._drawn: tuple[RenderableType, int] | None = None  # the last frame and its width

    def checking(self, name: str, checked: int, total: int, now: float) -> None:
        """A transient line while the data on disk is hashed; the view proper replaces it."""
        if self._checking is None:
            self._checking = Live(console=self.console, auto_refresh=False, transient=True)
            self._checking.start()
        self._checking.update(checking_line(name, checked, total, self.console.size.width), refresh=True)

    def checking_done(self) -> None:
        if self._checking is not None:
            self._checking.stop()
            self._checking = None

    def start(self, watch, status: TorrentStatus) -> None:
        self._command = watch.command
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._live.start()
        self.refresh(status, watch.ledger)

    def event(self, event) -> None:
        pass  # events reach the screen as log lines (ui/logs.py) and through the next snapshot

    def refresh(self, status: TorrentStatus, ledger: Ledger, now: float = 0.0) -> None:
        if self._live is None:
            return
        width, height = self.console.size
        if self._drawn is not None and width < self._drawn[1]:
            self._account_for_reflow(width)
        frame = render(status, ledger, width, height)
        self._live.update(frame, refresh=True)
        self._drawn = (frame, width)

    def _account_for_reflow(self, width: int) -> None:
        """The terminal got narrower: most terminals (tmux, VTE, iTerm2, Windows Terminal) rewrap
        the frame already drawn, so it now takes more rows than rich remembers, and redrawing over
        it would leave the top rows behind as garbage. Tell rich how many rows it really covers."""
        assert self._live is not None and self._drawn is not None
        frame, old_width = self._drawn
        live_render = getattr(self._live, "_live_render", None)
        if getattr(live_render, "_shape", None) is None:
            return
        options = self.console.options.update_width(old_width)
        lines = self.console.render_lines(frame, options, pad=False)
        # Terminals rewrap a row's text, not the blank cells after it: count cells up to the last glyph.
        lengths = (cell_len("".join(segment.text for segment in line).rstrip()) for line in lines)
        rows = sum(max(1, -(-length // width)) for length in lengths)
        live_render._shape = (live_render._shape[0], rows)  # type: ignore[union-attr]

    def close(self, status: TorrentStatus, ledger: Ledger) -> None:
        # The last frame stays on the screen: say how it ended, not "seeding" in a finished program.
        done = status.done >= status.total and self._command != "seed"
        self.refresh(replace(status, state="complete" if done else "stopped"), ledger)
        if self._live is not None:
            self._live.stop()
            self._live = None
