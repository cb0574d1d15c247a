"""What a swarm run produces, in one shape for simulated and real runs, and its JSON form."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torrentish.swarm.bounds import Bound

FORMAT = "torrentish-swarm-results/1"


@dataclass
class PeerResult:
    name: str
    group: str
    role: str  # seed | leecher
    client: str
    free_rider: bool
    up_capacity: float  # bytes/s; 0 = unlimited
    down_capacity: float
    arrived: float  # seconds of swarm time
    completed: float | None  # None: never (or a seed)
    left: float | None  # None: still there at the end
    uploaded: int  # payload bytes
    downloaded: int  # payload bytes received, duplicates included
    duplicate: int  # payload bytes received that were not needed (endgame, late, failed)
    wire_up: int = 0  # bytes on the wire, protocol included (simulation only)
    wire_down: int = 0

    @property
    def download_time(self) -> float | None:
        return None if self.completed is None else self.completed - self.arrived


@dataclass
class Series:
    """Samples every `interval` seconds of swarm time."""

    time: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)  # payload bytes/s, whole swarm
    upload_utilisation: list[float | None] = field(default_factory=list)  # used / capacity of present
    #   peers; None when some capacity is unlimited
    availability_min: list[float] = field(default_factory=list)  # copies of the rarest piece
    availability_mean: list[float] = field(default_factory=list)
    leecher_copies_min: list[float] = field(default_factory=list)  # the same, seeds left out
    completed: list[int] = field(default_factory=list)  # leechers done so far
    present: list[int] = field(default_factory=list)  # peers in the swarm


@dataclass
class SwarmResult:
    scenario: dict
    mode: str  # "sim" or "real (loopback)" / "real (netns)"
    bound: Bound
    peers: list[PeerResult]
    series: Series
    wall_seconds: float
    swarm_seconds: float  # how long the swarm ran (virtual seconds in simulation)
    finished: bool  # every leecher completed before the time limit
    notes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # runner-specific counters

    # ------------------------------------------------------------------------- summary
    def leechers(self) -> list[PeerResult]:
        return [p for p in self.peers if p.role == "leecher"]

    def completion_times(self) -> list[float]:
        return sorted(p.completed for p in self.leechers() if p.completed is not None)

    @property
    def last_completion(self) -> float | None:
        times = self.completion_times()
        return times[-1] if times and len(times) == len(self.leechers()) else None

    @property
    def mean_completion(self) -> float | None:
        times = self.completion_times()
        return statistics.fmean(times) if times else None

    def summary(self) -> dict:
        leechers = self.leechers()
        payload = sum(p.downloaded for p in leechers)
        duplicate = sum(p.duplicate for p in leechers)
        return {
            "leechers": len(leechers),
            "completed": len(self.completion_times()),
            "t_min": self.bound.t_min,
            "binding_term": self.bound.binding,
            "last_completion": self.last_completion,
            "mean_completion": self.mean_completion,
            "last_over_t_min": self.bound.ratio(self.last_completion),
            "mean_over_t_min": self.bound.ratio(self.mean_completion),
            "duplicate_fraction": duplicate / payload if payload else 0.0,
            "seed_uploaded": sum(p.uploaded for p in self.peers if p.role == "seed"),
            "first_full_copy": self.first_full_copy,
        }

    @property
    def first_full_copy(self) -> float | None:
        """When every piece was first held by some leecher: the swarm no longer needs a seed."""
        s = self.series
        return next((t for t, c in zip(s.time, s.leecher_copies_min) if c >= 1), None)

    # ---------------------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        return _finite({
            "format": FORMAT,
            "mode": self.mode,
            "scenario": self.scenario,
            "bound": {**asdict(self.bound), "binding": self.bound.binding},
            "summary": self.summary(),
            "wall_seconds": self.wall_seconds,
            "swarm_seconds": self.swarm_seconds,
            "finished": self.finished,
            "notes": self.notes,
            "stats": self.stats,
            "peers": [asdict(p) for p in self.peers],
            "series": asdict(self.series),
        })

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")


def _finite(value):
    """JSON has no infinity: write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
