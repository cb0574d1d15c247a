"""The closing line of a transfer command: what was moved, how fast, with whom, and what next."""

from __future__ import annotations

from dataclasses import dataclass

from torrentish.engine.status import share_ratio
from torrentish.formats.units import format_duration, format_rate, format_size


@dataclass(frozen=True)
class Outcome:
    command: str  # get, seed, demo
    outcome: str  # complete, stopped, seeded
    name: str
    total: int  # bytes wanted
    done: int  # bytes verified (all of them when complete)
    downloaded: int  # received this run
    uploaded: int  # sent this run
    elapsed: float  # the whole run
    download_time: float | None  # from start to complete, when it completed during this run
    peers_used: int  # sent us data
    peers_served: int  # got data from us
    web_seeds_used: int = 0  # HTTP servers (BEP 19) that sent us data

    @property
    def ratio(self) -> float:
        return share_ratio(self.uploaded, self.downloaded, self.total)

    @property
    def average_rate(self) -> float:
        time = self.download_time if self.download_time is not None else self.elapsed
        return self.downloaded / time if time > 0 else 0.0


def _peers(count: int) -> str:
    return f"{count} peer" if count == 1 else f"{count} peers"


def _sources(peers: int, web_seeds: int) -> str:
    """Where the data came from: "3 peers", "1 web seed", "2 peers and 1 web seed"."""
    if not web_seeds:
        return _peers(peers)
    seeds = f"{web_seeds} web seed" + ("" if web_seeds == 1 else "s")
    return seeds if not peers else f"{_peers(peers)} and {seeds}"


def summary_text(o: Outcome) -> str:
    if o.command == "seed":
        return (
            f"seeded {o.name} for {format_duration(o.elapsed)}: uploaded {format_size(o.uploaded)} "
            f"to {_peers(o.peers_served)} (ratio {o.ratio:.2f})"
        )
    if o.command == "demo":
        if o.outcome != "complete":
            return "demo stopped"
        return (
            f"demo: {format_size(o.total)} copied in {format_duration(o.download_time or o.elapsed)} "
            f"at {format_rate(o.average_rate)}, identical to the original"
        )
    if o.outcome == "stopped":
        percent = min(100 * o.done / o.total, 99.9) if o.total else 0.0
        return (  # two lines: the second is what to do next
            f"stopped {o.name} at {percent:.1f}% ({format_size(o.done)} of {format_size(o.total)}) "
            f"after {format_duration(o.elapsed)}\nprogress is saved: run the same command again to resume"
        )
    if o.download_time is None or o.downloaded == 0:
        return f"{o.name} is already complete ({format_size(o.total)} verified on disk)"
    size = format_size(o.total)
    if o.downloaded < o.total * 0.99:  # resumed: part of it was already there
        size += f" ({format_size(o.downloaded)} this run)"
    line = (
        f"done: {o.name}, {size} in {format_duration(o.download_time)} "
        f"({format_rate(o.average_rate)} average) from {_sources(o.peers_used, o.web_seeds_used)}"
    )
    if o.uploaded:
        line += f"; uploaded {format_size(o.uploaded)} to {_peers(o.peers_served)}"
    return line + f", ratio {o.ratio:.2f}"
