"""Plots of swarm runs (matplotlib, Agg backend: no display needed), each as PNG and SVG.

matplotlib is imported inside the functions, so importing this module (and the CLI) stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torrentish.swarm.results import SwarmResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        fig.savefig(path, dpi=120 if suffix == "png" else None, bbox_inches="tight")
        paths.append(path)
    return paths


def _cdf(ax, result: SwarmResult, label: str) -> None:
    times = result.completion_times()
    total = len(result.leechers())
    if times:
        ys = [(i + 1) / total for i in range(len(times))]
        ax.step(times, ys, where="post", label=label)


def _bound_line(ax, result: SwarmResult) -> None:
    if result.bound.t_min:
        ax.axvline(result.bound.t_min, color="black", linestyle="--", linewidth=1,
                   label=f"T_min = {result.bound.t_min:.1f} s")


def completion_cdf(results: Sequence[SwarmResult], labels: Sequence[str], out_dir: Path,
                   stem: str = "completion_cdf") -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result, label in zip(results, labels):
        _cdf(ax, result, label)
    _bound_line(ax, results[0])
    ax.set_xlabel("completion time (s)")
    ax.set_ylabel("fraction of leechers done")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"{results[0].scenario['name']}: completion times")
    try:
        return _save(fig, out_dir, stem)
    finally:
        plt.close(fig)


def availability(result: SwarmResult, out_dir: Path, stem: str = "availability") -> list[Path]:
    plt = _pyplot()
    s = result.series
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(s.time, s.availability_mean, label="mean copies per piece")
    ax.plot(s.time, s.availability_min, label="copies of the rarest piece")
    ax.plot(s.time, s.leecher_copies_min, label="... among leechers only")
    ax.plot(s.time, s.present, linestyle=":", color="grey", label="peers present")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("copies in the swarm")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(f"{result.scenario['name']}: piece availability")
    try:
        return _save(fig, out_dir, stem)
    finally:
        plt.close(fig)


def utilisation(result: SwarmResult, out_dir: Path, stem: str = "upload_utilisation") -> list[Path]:
    plt = _pyplot()
    s = result.series
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    points = [(t, u) for t, u in zip(s.time, s.upload_utilisation) if u is not None]
    if points:
        top.plot([t for t, _ in points], [100 * u for _, u in points])
    top.set_ylabel("upload used (% of capacity)")
    top.set_ylim(0, 105)
    top.grid(alpha=0.3)
    top.set_title(f"{result.scenario['name']}: upload utilisation and throughput")
    bottom.plot(s.time, [t / 2**20 for t in s.throughput], color="tab:green")
    bottom.set_ylabel("verified MiB/s, whole swarm")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(left=0)
    bottom.grid(alpha=0.3)
    try:
        return _save(fig, out_dir, stem)
    finally:
        plt.close(fig)


def plot_run(result: SwarmResult, out_dir: Path) -> list[Path]:
    """Every plot of one run, into out_dir."""
    paths = completion_cdf([result], [result.scenario["strategy"]], out_dir)
    if result.series.time:
        paths += availability(result, out_dir)
        paths += utilisation(result, out_dir)
    return paths


def sweep_measures(sweep, points, out_dir: Path) -> list[Path]:
    """One plot per measure of a sweep (swarm.sweep_report): the mean against the first swept
    parameter, 95% confidence intervals as error bars, a line per strategy (and per value of any
    other swept parameter)."""
    from torrentish.swarm.sweep import PARAMETERS
    from torrentish.swarm.sweep_report import MEASURES

    plt = _pyplot()
    x_name = next(iter(sweep.vary))
    unit, _ = PARAMETERS[x_name]
    scale, unit = {"bytes": (1024, "KiB"), "bytes/s": (1024, "KiB/s")}.get(unit, (1, unit))
    xs = sweep.vary[x_name]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    position = {label: (xs[i] / scale if numeric else i) for i, label in enumerate(sweep.labels[x_name])}
    lines: dict[str, list] = {}
    for p in points:
        others = ", ".join(f"{k}={v}" for k, v in p.values[1:])
        lines.setdefault(p.strategy + (f" ({others})" if others else ""), []).append(p)
    paths = []
    for measure, label in MEASURES.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, pts in lines.items():
            shown = [(position[p.values[0][1]], p.stats[measure]) for p in pts if p.stats[measure]]
            if shown:
                ax.errorbar([x for x, _ in shown], [s.mean for _, s in shown],
                            yerr=[s.ci for _, s in shown], capsize=3, marker="o", label=name)
        if measure.endswith("over_t_min"):
            ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="T_min")
        if not numeric:
            ax.set_xticks(list(position.values()), list(position))
        ax.set_xlabel(f"{x_name} ({unit})" if unit else x_name)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"{sweep.name}: {label} (mean, 95% CI)")
        try:
            paths += _save(fig, out_dir, measure)
        finally:
            plt.close(fig)
    return paths
