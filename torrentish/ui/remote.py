"""What `torrentish remote` prints: torrents a Transmission RPC daemon reported, for people or
programs.

    rich   stdout is a terminal: tables with colour
    plain  piped: the same columns, aligned, no colour or borders (one torrent a line for `list`)
    json   --json: one JSON document, the RPC's own fields with snake_case names
           (Transmission 4.1's spelling), plus `state` in words

Input is torrent-get's objects in the old names (`percentDone`), as both transmission-daemon and
the torrentish daemon send them for the old request envelope (torrentish/rpc/replies.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from torrentish.formats.units import format_duration, format_rate, format_size
from torrentish.rpc.names import snake

LIST_FIELDS = (
    "id", "name", "hashString", "status", "error", "errorString", "percentDone", "sizeWhenDone",
    "leftUntilDone", "rateDownload", "rateUpload", "uploadRatio", "eta", "peersConnected",
    "metadataPercentComplete", "recheckProgress",
)
SHOW_FIELDS = LIST_FIELDS + (
    "totalSize", "haveValid", "downloadedEver", "uploadedEver", "corruptEver", "downloadDir",
    "addedDate", "doneDate", "pieceCount", "pieceSize", "magnetLink", "comment", "isPrivate",
    "peersSendingToUs", "peersGettingFromUs", "uploadLimit", "uploadLimited", "downloadLimit",
    "downloadLimited", "honorsSessionLimits", "files", "fileStats", "peers", "trackerStats",
)
STATES = ("stopped", "check-wait", "checking", "download-wait", "downloading", "seed-wait", "seeding")
PRIORITIES = {-1: "low", 0: "normal", 1: "high"}


def state_of(torrent: dict[str, Any]) -> str:
    """The torrent's state in a word or two (Transmission's status numbers, rpc-spec 3.3)."""
    status = torrent.get("status")
    state = STATES[status] if isinstance(status, int) and 0 <= status < len(STATES) else "unknown"
    if state == "downloading" and _number(torrent.get("metadataPercentComplete"), 1) < 1:
        state = "fetching metadata"
    if torrent.get("error") == 3:  # a local error (disk): the torrent is stopped by it
        state = "error"
    return state


def _number(value: Any, default: float = 0) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def one_line(value: Any) -> str:
    """A string from the daemon, on one line (a name with a newline must not forge a row)."""
    return " ".join(str(value).split()) if value is not None else ""


def percent(fraction: Any) -> str:
    value = min(1.0, max(0.0, _number(fraction)))
    return f"{int(value * 1000) / 10:.1f}%"  # 99.97% is "99.9%": never 100% before it is


def eta(seconds: Any) -> str:
    """Transmission's eta: seconds, -1 not applicable, -2 unknown."""
    seconds = _number(seconds, -1)
    if seconds == -2:
        return "unknown"
    return "-" if seconds < 0 else format_duration(seconds)


def ratio(value: Any) -> str:
    value = _number(value, -1)
    if value == -2:
        return "inf"
    return "-" if value < 0 else f"{value:.2f}"


def rate(value: Any) -> str:
    return format_rate(_number(value)) if _number(value) > 0 else "-"


def date(epoch: Any) -> str:
    """A local date and time; "-" for none and for what no calendar holds (a daemon may send any number)."""
    epoch = _number(epoch)
    if epoch <= 0:
        return "-"
    try:
        return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return "-"


def limit_of(limited: Any, kilobytes: Any, speed_bytes: int) -> int | None:
    """A speed limit in bytes/s (None: unlimited) from the RPC's enabled flag and K units."""
    return int(_number(kilobytes) * speed_bytes) if limited is True else None


def limit(limited: Any, kilobytes: Any, speed_bytes: int) -> str:
    value = limit_of(limited, kilobytes, speed_bytes)
    return "unlimited" if value is None else format_rate(value)


def session_limits(session: dict[str, Any], speed_bytes: int) -> dict[str, Any]:
    return {
        "down": limit_of(session.get("speed-limit-down-enabled"), session.get("speed-limit-down"), speed_bytes),
        "up": limit_of(session.get("speed-limit-up-enabled"), session.get("speed-limit-up"), speed_bytes),
        "alt_speed_enabled": session.get("alt-speed-enabled") is True,
    }


def torrent_limits(torrent: dict[str, Any], speed_bytes: int) -> dict[str, Any]:
    return {
        "id": torrent.get("id"),
        "name": torrent.get("name"),
        "down": limit_of(torrent.get("downloadLimited"), torrent.get("downloadLimit"), speed_bytes),
        "up": limit_of(torrent.get("uploadLimited"), torrent.get("uploadLimit"), speed_bytes),
        "honors_session_limits": torrent.get("honorsSessionLimits", True) is not False,
    }


def limits_line(record: dict[str, Any]) -> str:
    """`limits`' line for a session_limits or torrent_limits record."""
    text = lambda value: "unlimited" if value is None else format_rate(value)  # noqa: E731
    line = f"down {text(record['down'])}, up {text(record['up'])}"
    if record.get("alt_speed_enabled"):
        line += " (alternative speed limits are on)"
    if record.get("honors_session_limits") is False:
        line += ", ignores the daemon's limits"
    if "id" in record:
        line = f"{record['id']} {one_line(record['name'])}: {line}"
    return line


# -- tables ----------------------------------------------------------------------------------

LIST_HEADER = ("ID", "Done", "Have", "ETA", "Up", "Down", "Ratio", "State", "Name")
LIST_RIGHT = {0, 1, 2, 3, 4, 5, 6}  # columns aligned right


def list_rows(torrents: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for t in torrents:
        have = _number(t.get("sizeWhenDone")) - _number(t.get("leftUntilDone"))
        rows.append((
            str(t.get("id", "?")), percent(t.get("percentDone")), format_size(max(0, have)),
            eta(t.get("eta")), rate(t.get("rateUpload")), rate(t.get("rateDownload")),
            ratio(t.get("uploadRatio")), state_of(t), one_line(t.get("name")),
        ))
    return rows


def totals_line(torrents: Sequence[dict[str, Any]]) -> str:
    down = sum(_number(t.get("rateDownload")) for t in torrents)
    up = sum(_number(t.get("rateUpload")) for t in torrents)
    count = len(torrents)
    return f"{count} torrent{'' if count == 1 else 's'}, down {format_rate(down)}, up {format_rate(up)}"


def file_rows(torrent: dict[str, Any]) -> list[tuple[str, ...]]:
    files = torrent.get("files") if isinstance(torrent.get("files"), list) else []
    stats = torrent.get("fileStats") if isinstance(torrent.get("fileStats"), list) else []
    rows = []
    for index, file in enumerate(files):
        file = file if isinstance(file, dict) else {}
        stat = stats[index] if index < len(stats) and isinstance(stats[index], dict) else {}
        length = _number(file.get("length"))
        done = _number(stat.get("bytesCompleted", file.get("bytesCompleted")))
        rows.append((
            str(index), percent(done / length if length else 1), format_size(length),
            "yes" if stat.get("wanted", True) is not False else "no",
            PRIORITIES.get(stat.get("priority", 0), "?"), one_line(file.get("name")),
        ))
    return rows


def peer_rows(torrent: dict[str, Any]) -> list[tuple[str, ...]]:
    peers = torrent.get("peers") if isinstance(torrent.get("peers"), list) else []
    return [
        (f"{one_line(p.get('address'))}:{p.get('port', '?')}", one_line(p.get("clientName")), one_line(p.get("flagStr")),
         percent(p.get("progress")), rate(p.get("rateToClient")), rate(p.get("rateToPeer")))
        for p in peers if isinstance(p, dict)
    ]


def tracker_rows(torrent: dict[str, Any]) -> list[tuple[str, ...]]:
    stats = torrent.get("trackerStats") if isinstance(torrent.get("trackerStats"), list) else []
    rows = []
    for s in stats:
        if not isinstance(s, dict):
            continue
        if s.get("hasAnnounced"):
            result = ("ok" if s.get("lastAnnounceSucceeded") else "failed") + (
                f": {one_line(s.get('lastAnnounceResult'))}" if s.get("lastAnnounceResult") else "")
        else:
            result = "not yet"
        count = (lambda n: str(n) if isinstance(n, int) and n >= 0 else "-")
        rows.append((str(_number(s.get("tier")) + 1), one_line(s.get("announce")), result,
                     count(s.get("seederCount")), count(s.get("leecherCount"))))
    return rows


def facts(torrent: dict[str, Any], speed_bytes: int = 1000) -> list[tuple[str, str]]:
    """`show`'s key/value lines."""
    t = torrent
    have = _number(t.get("sizeWhenDone")) - _number(t.get("leftUntilDone"))
    lines = [
        ("Name", one_line(t.get("name"))),
        ("ID", str(t.get("id", "?"))),
        ("Hash", one_line(t.get("hashString"))),
        ("State", state_of(t)),
        ("Location", one_line(t.get("downloadDir"))),
        ("Size", f"{format_size(_number(t.get('totalSize')))} ({t.get('pieceCount', '?')} pieces of "
                 f"{format_size(_number(t.get('pieceSize')))})"),
        ("Have", f"{format_size(max(0, have))} of {format_size(_number(t.get('sizeWhenDone')))} wanted "
                 f"({percent(t.get('percentDone'))})"),
        ("Downloaded", format_size(_number(t.get("downloadedEver")))),
        ("Uploaded", f"{format_size(_number(t.get('uploadedEver')))} (ratio {ratio(t.get('uploadRatio'))})"),
        ("Rates", f"down {rate(t.get('rateDownload'))}, up {rate(t.get('rateUpload'))}"),
        ("ETA", eta(t.get("eta"))),
        ("Peers", f"{t.get('peersConnected', 0)} connected, {t.get('peersSendingToUs', 0)} sending to us, "
                  f"{t.get('peersGettingFromUs', 0)} getting from us"),
        ("Limits", f"down {limit(t.get('downloadLimited'), t.get('downloadLimit'), speed_bytes)}, "
                   f"up {limit(t.get('uploadLimited'), t.get('uploadLimit'), speed_bytes)}"
                   + ("" if t.get("honorsSessionLimits", True) else ", ignores the daemon's limits")),
        ("Added", date(t.get("addedDate"))),
        ("Completed", date(t.get("doneDate"))),
    ]
    if _number(t.get("corruptEver")):
        lines.append(("Corrupt", format_size(_number(t.get("corruptEver")))))
    if t.get("comment"):
        lines.append(("Comment", one_line(t.get("comment"))))
    if t.get("error"):
        lines.append(("Error", one_line(t.get("errorString")) or f"error {t.get('error')}"))
    if t.get("magnetLink"):
        lines.append(("Magnet", one_line(t.get("magnetLink"))))
    return lines


FILE_HEADER = ("#", "Done", "Size", "Get", "Priority", "Name")
PEER_HEADER = ("Address", "Client", "Flags", "Has", "Down", "Up")
TRACKER_HEADER = ("Tier", "Announce", "Last announce", "Seeders", "Leechers")


# -- output ----------------------------------------------------------------------------------


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] = frozenset()) -> list[str]:
    """Plain text columns, two spaces apart, no trailing spaces."""
    table = [tuple(header), *map(tuple, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                      for i, cell in enumerate(row)).rstrip() for row in table]


class RemoteOutput:
    """Prints for one `torrentish remote` command in the mode its flags and stdout call for."""

    def __init__(self, *, as_json: bool, stdout: IO[str], rich: bool | None = None):
        self.stdout = stdout
        self.mode = "json" if as_json else ("rich" if (stdout.isatty() if rich is None else rich) else "plain")
        self.console = None
        if self.mode == "rich":
            from rich.console import Console

            self.console = Console(file=stdout, highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        """A line for people (under --json, callers print a record instead)."""
        if self.console is not None:
            self.console.print(text, markup=False)
        elif self.mode == "plain":
            self.stdout.write(text + "\n")

    def json(self, document: Any) -> None:
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def table(self, title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]],
              right: set[int] = frozenset(), footer: str | None = None) -> None:
        if self.console is not None:
            from rich import box
            from rich.table import Table

            table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, caption=footer, show_edge=False,
                          caption_justify="left", header_style="bold")
            for i, name in enumerate(header):
                table.add_column(name, justify="right" if i in right else "left",
                                 overflow="fold", no_wrap=i != len(header) - 1)
            for row in rows:
                table.add_row(*row, style=_row_style(row, header))
            self.console.print(table)
            return
        if title:
            self.stdout.write(f"{title}:\n")
        indent = "  " if title else ""
        for line in aligned(header, rows, right):
            self.stdout.write(indent + line + "\n")
        if footer:
            self.stdout.write(footer + "\n")

    def facts(self, lines: Sequence[tuple[str, str]]) -> None:
        width = max(len(key) for key, _ in lines)
        if self.console is not None:
            from rich.table import Table

            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", width=width)
            grid.add_column(overflow="fold")
            links = [(key, value) for key, value in lines if value.startswith("magnet:")]
            for key, value in lines:
                if (key, value) not in links:
                    grid.add_row(key, value)
            self.console.print(grid)
            for key, value in links:  # unfolded, so that it can be copied from the terminal
                self.console.print(f"[bold]{key.ljust(width)}[/]  ", end="")
                self.console.print(value, markup=False, soft_wrap=True)
            return
        for key, value in lines:
            self.stdout.write(f"{key.ljust(width)}  {value}\n")


def _row_style(row: Sequence[str], header: Sequence[str]) -> str:
    if "State" not in header:
        return ""
    state = row[header.index("State")]
    return {"error": "red", "seeding": "green", "downloading": "cyan", "stopped": "dim"}.get(state, "")


def json_record(value: Any) -> Any:
    """A torrent (or anything in it) with snake_case keys; a torrent also gets its `state`."""
    if isinstance(value, dict):
        record = {snake(str(key)): json_record(item) for key, item in value.items()}
        if "status" in value and "name" in value:
            record["state"] = state_of(value)
        return record
    if isinstance(value, list):
        return [json_record(item) for item in value]
    return value
