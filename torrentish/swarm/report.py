"""Summaries of swarm runs for people: rich tables, one run or several side by side."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from torrentish.swarm.results import PeerResult, SwarmResult
from torrentish.formats.units import format_rate, format_size


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rate(value: float) -> str:
    return "-" if not value else format_rate(value).replace(".0 ", "").replace(" ", "")


def headline(result: SwarmResult) -> dict[str, str]:
    """The figures of one run, as text, in a fixed order (rows of the summary and compare tables)."""
    s = result.summary()
    scenario = result.scenario
    times = result.completion_times()
    file_size = scenario["file_size"]
    payload = sum(p.downloaded for p in result.leechers())
    return {
        "strategy": scenario["strategy"],
        "peers": f"{sum(g['count'] for g in scenario['groups'])} ({s['leechers']} leechers)",
        "file": f"{format_size(file_size)} in {-(-file_size // scenario['piece_size'])} pieces",
        "T_min (Kumar & Ross)": f"{_seconds(s['t_min'])} ({s['binding_term']})",
        "completed": f"{s['completed']} of {s['leechers']}",
        "last completion": _seconds(s["last_completion"]),
        "last / T_min": _ratio(s["last_over_t_min"]),
        "mean completion": _seconds(s["mean_completion"]),
        "mean / T_min": _ratio(s["mean_over_t_min"]),
        "median / p90": f"{_seconds(_quantile(times, 0.5))} / {_seconds(_quantile(times, 0.9))}",
        "duplicate bytes": f"{format_size(sum(p.duplicate for p in result.leechers()))}"
                           f" ({100 * s['duplicate_fraction']:.2f}% of {format_size(payload)})",
        "seed uploaded": f"{format_size(s['seed_uploaded'])} ({s['seed_uploaded'] / file_size:.2f} copies)",
        "first full copy": _seconds(s["first_full_copy"]),
        "swarm time": _seconds(result.swarm_seconds) + ("" if result.finished else " (time limit)"),
        "wall time": _seconds(result.wall_seconds),
    }


def summary_table(result: SwarmResult) -> Table:
    table = Table(title=f"swarm {result.scenario['name']} ({result.mode})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in headline(result).items():
        table.add_row(key, value)
    return table


def _utilisation(peer: PeerResult, end: float) -> float | None:
    present = (peer.left if peer.left is not None else end) - peer.arrived
    if not peer.up_capacity or present <= 0:
        return None
    return peer.uploaded / (peer.up_capacity * present)


def groups_table(result: SwarmResult) -> Table:
    table = Table(title="by group (times from arrival; uploaded: mean payload per peer; use: of upload capacity)")
    for column in ("group", "n", "up", "down", "done", "mean", "max", "uploaded", "use"):
        table.add_column(column, justify="left" if column == "group" else "right", no_wrap=True)
    by_group: dict[str, list[PeerResult]] = {}
    for peer in result.peers:
        by_group.setdefault(peer.group, []).append(peer)
    for name, peers in by_group.items():
        first = peers[0]
        times = [p.download_time for p in peers if p.download_time is not None]
        uses = [u for p in peers if (u := _utilisation(p, result.swarm_seconds)) is not None]
        free = sum(p.free_rider for p in peers)
        table.add_row(
            name + (f" ({free} free riders)" if free else ""),
            str(len(peers)),
            _rate(first.up_capacity),
            _rate(first.down_capacity),
            "-" if first.role == "seed" else f"{len(times)}",
            _seconds(statistics.fmean(times)) if times else "-",
            _seconds(max(times)) if times else "-",
            format_size(statistics.fmean(p.uploaded for p in peers)).replace(" ", ""),
            f"{100 * statistics.fmean(uses):.0f}%" if uses else "-",
        )
    return table


def compare_table(results: Sequence[SwarmResult], labels: Sequence[str]) -> Table:
    table = Table(title=f"swarm {results[0].scenario['name']}: side by side")
    table.add_column("", style="bold")
    for label in labels:
        table.add_column(label, justify="right")
    rows = [headline(r) for r in results]
    for key in rows[0]:
        if key in ("peers", "file", "T_min (Kumar & Ross)") and len({row[key] for row in rows}) == 1:
            continue
        table.add_row(key, *(row[key] for row in rows))
    return table


def spread_table(results: Sequence[SwarmResult]) -> Table:
    """The same scenario under different schedules: how much the outcome moves."""
    table = Table(title=f"spread over {len(results)} runs (trio schedule seeds varied)")
    for column in ("figure", "min", "mean", "max", "stdev"):
        table.add_column(column, justify="right")
    for label, pick in (("last completion", lambda r: r.last_completion),
                        ("mean completion", lambda r: r.mean_completion)):
        values = [v for r in results if (v := pick(r)) is not None]
        if not values:
            continue
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        table.add_row(label, _seconds(min(values)), _seconds(statistics.fmean(values)),
                      _seconds(max(values)), f"{stdev:.2f} s")
    return table


def strategies_table(runs: dict[str, Sequence[SwarmResult]]) -> Table:
    """Each strategy over the same seeds: mean and range of the ratios to T_min."""
    count = len(next(iter(runs.values())))
    table = Table(title=f"over {count} seeds: ratio to T_min, mean (min - max)")
    table.add_column("", style="bold")
    for name in runs:
        table.add_column(name, justify="right")
    for label, pick in (("last completion", lambda r: r.bound.ratio(r.last_completion)),
                        ("mean completion", lambda r: r.bound.ratio(r.mean_completion)),
                        ("seed copies", lambda r: r.summary()["seed_uploaded"] / r.scenario["file_size"])):
        cells = []
        for results in runs.values():
            values = [v for r in results if (v := pick(r)) is not None]
            cells.append(f"{statistics.fmean(values):.3f} ({min(values):.2f} - {max(values):.2f})"
                         + ("" if len(values) == len(results) else f", {len(values)} done")
                         if values else "-")
        table.add_row(label, *cells)
    return table


def print_report(result: SwarmResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(summary_table(result))
    console.print(groups_table(result))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
