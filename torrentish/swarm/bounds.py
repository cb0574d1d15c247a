"""The theoretical limit: the fluid lower bound on the time to distribute a file.

Kumar & Ross ("Peer-assisted file distribution: the minimum distribution time", HotWeb 2006):
with a file of F bytes, seeds uploading u_s in total, and N leechers with uploads u_i and downloads
d_i, no schedule gets every leecher the whole file sooner than

    T_min = max(F / u_s, F / d_min, N * F / (u_s + sum u_i))

- F / u_s: every byte must leave the seeds at least once;
- F / d_min: the slowest downloader must take in all of it;
- N F / (u_s + sum u_i): N copies must be uploaded by someone.

And the bound is reached by a fluid schedule, so a ratio to it measures how far a protocol is
from ideal. It ignores latency and protocol overhead. It stays a lower bound on the last completion
(counted from time 0) for late arrivals, departures and free riders, since a swarm with those is
a flash crowd in which some peers idle for a while; free riders count with u_i = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torrentish.swarm.scenario import Scenario


@dataclass(frozen=True)
class Bound:
    t_min: float  # seconds; 0 when nothing is limited
    seed_term: float  # F / u_s
    download_term: float  # F / d_min
    aggregate_term: float  # N F / (u_s + sum u_i)

    @property
    def binding(self) -> str:
        """Which term is the limit."""
        terms = {"seed upload": self.seed_term, "slowest download": self.download_term,
                 "aggregate upload": self.aggregate_term}
        return max(terms, key=lambda name: terms[name])

    def ratio(self, seconds: float | None) -> float | None:
        if seconds is None or not self.t_min:
            return None
        return seconds / self.t_min


def kumar_ross(file_size: int, seed_uploads: Sequence[float], leecher_uploads: Sequence[float],
               leecher_downloads: Sequence[float]) -> Bound:
    """Rates in bytes/s; ``math.inf`` is unlimited, 0 uploads nothing (a free rider)."""
    n = len(leecher_uploads)
    u_s = float(sum(seed_uploads))
    d_min = min(leecher_downloads, default=math.inf)
    total = u_s + sum(leecher_uploads)
    seed_term = file_size / u_s if u_s else math.inf
    download_term = file_size / d_min if d_min else math.inf
    aggregate_term = n * file_size / total if total else math.inf
    return Bound(max(seed_term, download_term, aggregate_term), seed_term, download_term, aggregate_term)


def scenario_bound(s: Scenario) -> Bound:
    """The bound for a scenario, whose rates use 0 for unlimited."""
    def rate(value: int) -> float:
        return float(value) if value else math.inf

    seeds, uploads, downloads = [], [], []
    for peer in s.peers():
        g = peer.group
        if peer.is_seed:
            seeds.append(rate(g.up))
        else:
            uploads.append(0.0 if peer.free_rider else rate(g.up))
            downloads.append(rate(g.down))
    return kumar_ross(s.file_size, seeds, uploads, downloads)
