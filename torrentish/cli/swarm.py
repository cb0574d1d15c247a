"""`torrentish swarm run`, `swarm compare` and `swarm sweep`: the swarm lab. Registered in cli.py.

Each command builds a scenario (a TOML file, flags, or the built-in flash crowd), runs it in
simulation or, with --real, as one process per peer, and writes results.json, plots and a table.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from torrentish.cli.app import app
from torrentish.cli.errors import handle_errors

swarm_app = typer.Typer(
    name="swarm",
    help="The swarm lab: run a swarm of peers, simulated or real, against the theoretical limit.",
    no_args_is_help=True,
)
app.add_typer(swarm_app, name="swarm")


def _size(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    from torrentish.formats.units import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _rate(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    from torrentish.formats.units import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _duration(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    from torrentish.swarm.scenario import ScenarioError, parse_duration

    try:
        return parse_duration(text)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


ScenarioArg = Annotated[Optional[Path], typer.Argument(
    metavar="SCENARIO", show_default=False,
    help="A scenario TOML file (see docs/swarm.md); without one, the built-in flash crowd.")]
Seeds = Annotated[Optional[int], typer.Option(min=1, help="Seeds (first seed group).", show_default=False)]
Leechers = Annotated[Optional[int], typer.Option(min=1, help="Leechers (first leecher group).", show_default=False)]
Size = Annotated[Optional[str], typer.Option(metavar="SIZE", help="File size, e.g. 64MiB.", show_default=False)]
PieceSize = Annotated[Optional[str], typer.Option(metavar="SIZE", help="Piece size, e.g. 256KiB.", show_default=False)]
Up = Annotated[Optional[str], typer.Option(metavar="RATE", help="Leechers' upload capacity (0 = unlimited).", show_default=False)]
SeedUp = Annotated[Optional[str], typer.Option(metavar="RATE", help="Seeds' upload capacity.", show_default=False)]
Down = Annotated[Optional[str], typer.Option(metavar="RATE", help="Everyone's download capacity.", show_default=False)]
Latency = Annotated[Optional[str], typer.Option(metavar="DURATION", help="One-way latency of every node, e.g. 25ms.", show_default=False)]
Arrival = Annotated[Optional[str], typer.Option(help="Leechers arrive: flash (all at once) or poisson.", show_default=False)]
ArrivalRate = Annotated[Optional[float], typer.Option(help="Poisson arrivals per second.", show_default=False)]
Departure = Annotated[Optional[str], typer.Option(help="After completing, leechers: stay, leave, or linger.", show_default=False)]
Linger = Annotated[Optional[str], typer.Option(metavar="DURATION", help="How long a lingering leecher seeds.", show_default=False)]
FreeRiders = Annotated[Optional[int], typer.Option(min=0, help="Leechers that never upload.", show_default=False)]
Strategy = Annotated[Optional[str], typer.Option(help="Piece picker: rarest, random or sequential.", show_default=False)]
Slots = Annotated[Optional[int], typer.Option(min=0, help="Upload slots (choker).", show_default=False)]
Rechoke = Annotated[Optional[str], typer.Option(metavar="DURATION", help="Rechoke interval.", show_default=False)]
Optimistic = Annotated[Optional[int], typer.Option(min=1, help="Rotate the optimistic unchoke every N rechokes.", show_default=False)]
MaxPeers = Annotated[Optional[int], typer.Option(min=1, help="Connections per peer.", show_default=False)]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", min=0, help="Random seed of the scenario.", show_default=False)]
TimeLimit = Annotated[Optional[str], typer.Option(metavar="DURATION", help="Stop the swarm after this long.", show_default=False)]
Verify = Annotated[Optional[str], typer.Option(help="sha1 (real hashes) or compare (hash-free check).", show_default=False)]
SuperSeedOpt = Annotated[Optional[bool], typer.Option(
    "--super-seed/--no-super-seed", show_default=False,
    help="Seeds use BEP 16 super-seeding (or not), whatever the scenario says.")]
Quantum = Annotated[Optional[str], typer.Option(metavar="DURATION", help="Simulation tick.", show_default=False)]
Real = Annotated[bool, typer.Option("--real", help="One torrentish process per peer over real TCP.")]
Netns = Annotated[bool, typer.Option("--netns", help="With --real: a network namespace per peer, tc caps (root).")]
Out = Annotated[Optional[Path], typer.Option("--out", metavar="DIR", show_default=False,
                                             help="Where results.json and the plots go (default: swarm-out/NAME; for compare NAME-compare).")]
NoPlots = Annotated[bool, typer.Option("--no-plots", help="Skip the plots.")]


# The flags that change the scenario (the parameters of apply_overrides).
_SCENARIO_FLAGS = ("seeds", "leechers", "size", "piece_size", "up", "seed_up", "down", "latency",
                   "arrival", "arrival_rate", "departure", "linger", "free_riders", "strategy",
                   "slots", "rechoke_interval", "optimistic_every", "max_peers", "seed",
                   "time_limit", "verify", "quantum", "super_seed")


def _scenario(path: Path | None, given: dict):
    """The scenario file (or the default) with the command's flags applied."""
    flags = {key: given.get(key) for key in _SCENARIO_FLAGS}
    return _build(path, **flags)


def _build(path: Path | None, **flags):
    from torrentish.swarm.scenario import Scenario, apply_overrides, load_scenario

    base = load_scenario(path) if path is not None else Scenario()
    converted = dict(flags)
    for key in ("size", "piece_size"):
        converted[key] = _size(flags.get(key), f"--{key.replace('_', '-')}")
    for key in ("up", "seed_up", "down"):
        converted[key] = _rate(flags.get(key), f"--{key.replace('_', '-')}")
    for key in ("latency", "linger", "rechoke_interval", "time_limit", "quantum"):
        converted[key] = _duration(flags.get(key), f"--{key.replace('_', '-')}")
    return apply_overrides(base, **converted)


def _run(scenario, real: bool, netns: bool, out: Path, schedule_seed: int | None = None):
    """Run it, with a status line on a terminal."""
    import time

    from rich.console import Console

    console = Console(stderr=True)
    what = "real swarm" if real else "simulation"
    with console.status(f"{scenario.name}: starting the {what}") as status:
        started = time.monotonic()

        def progress(t: float, done: int, total: int) -> None:
            status.update(f"{scenario.name}: swarm time {t:.0f} s, {done} of {total} leechers done, "
                          f"wall {time.monotonic() - started:.0f} s")

        return _run_quietly(scenario, real, netns, out, schedule_seed, progress)


def _run_quietly(scenario, real, netns, out, schedule_seed, progress):
    if real:
        from torrentish.swarm.runner_real import run_real

        return run_real(scenario, netns=netns, work_dir=out / "work", progress=progress)
    if netns:
        raise typer.BadParameter("--netns needs --real", param_hint="--netns")
    from torrentish.swarm.runner_sim import run_sim

    return run_sim(scenario, schedule_seed=schedule_seed, progress=progress)


@swarm_app.command("run")
@handle_errors
def run(
    scenario_file: ScenarioArg = None,
    seeds: Seeds = None, leechers: Leechers = None, size: Size = None, piece_size: PieceSize = None,
    up: Up = None, seed_up: SeedUp = None, down: Down = None, latency: Latency = None,
    arrival: Arrival = None, arrival_rate: ArrivalRate = None, departure: Departure = None,
    linger: Linger = None, free_riders: FreeRiders = None, strategy: Strategy = None,
    slots: Slots = None, rechoke_interval: Rechoke = None, optimistic_every: Optimistic = None,
    max_peers: MaxPeers = None, seed: SeedOpt = None, time_limit: TimeLimit = None,
    verify: Verify = None, quantum: Quantum = None, super_seed: SuperSeedOpt = None,
    real: Real = False, netns: Netns = False, out: Out = None, no_plots: NoPlots = False,
    repeat: Annotated[int, typer.Option(min=1, help="Simulate N times, varying only trio's task order, "
                                                    "and show the spread.")] = 1,
) -> None:
    """Run one swarm and report it against the Kumar & Ross bound.

    Writes DIR/results.json and, unless --no-plots, completion_cdf, availability and upload_utilisation as PNG and SVG. The default is the homogeneous flash crowd of the benchmarks (1 seed + 50 leechers, 64 MiB, 1 MiB/s upload each).

    [bold]Examples[/bold]

      torrentish swarm run

      torrentish swarm run bench/swarm/slow-seed.toml --strategy random

      torrentish swarm run --leechers 20 --size 16MiB --real --out /tmp/real20
    """
    scenario = _scenario(scenario_file, locals())
    from rich.console import Console

    from torrentish.swarm import report

    out = out or Path("swarm-out") / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    if repeat > 1 and real:
        raise typer.BadParameter("--repeat is for simulations", param_hint="--repeat")
    results = []
    for k in range(repeat):
        result = _run(scenario, real, netns, out, schedule_seed=scenario.seed + k)
        name = "results.json" if repeat == 1 else f"results-{k}.json"
        result.write(out / name)
        results.append(result)
    report.print_report(results[0], console)
    if repeat > 1:
        console.print(report.spread_table(results))
    if not no_plots:
        from torrentish.swarm import plots

        plots.plot_run(results[0], out)
    console.print(f"results in {out}/")


@swarm_app.command("compare")
@handle_errors
def compare(
    scenario_file: ScenarioArg = None,
    strategies: Annotated[str, typer.Option(help="Piece pickers to compare, comma-separated.")] = "rarest,random",
    seeds: Seeds = None, leechers: Leechers = None, size: Size = None, piece_size: PieceSize = None,
    up: Up = None, seed_up: SeedUp = None, down: Down = None, latency: Latency = None,
    arrival: Arrival = None, arrival_rate: ArrivalRate = None, departure: Departure = None,
    linger: Linger = None, free_riders: FreeRiders = None,
    slots: Slots = None, rechoke_interval: Rechoke = None, optimistic_every: Optimistic = None,
    max_peers: MaxPeers = None, seed: SeedOpt = None, time_limit: TimeLimit = None,
    verify: Verify = None, quantum: Quantum = None, super_seed: SuperSeedOpt = None,
    real: Real = False, netns: Netns = False, out: Out = None, no_plots: NoPlots = False,
    repeat: Annotated[int, typer.Option(min=1, help="Run each strategy with N scenario seeds "
                                                    "(--seed, --seed + 1, ...) and compare the spreads.")] = 1,
) -> None:
    """Run the same scenario under several piece-picking strategies, side by side.

    One run per strategy can mislead: a swarm's outcome varies with its random seed. With --repeat N each strategy runs with the same N seeds, and a table compares means and spreads.

    [bold]Example[/bold]

      torrentish swarm compare bench/swarm/slow-seed.toml --strategies rarest,random --repeat 5
    """
    base = _scenario(scenario_file, locals())
    import dataclasses

    from rich.console import Console

    from torrentish.core.picker import STRATEGIES
    from torrentish.swarm import report

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    for name in names:
        if name not in STRATEGIES:
            raise typer.BadParameter(f"{name!r} is not one of {', '.join(STRATEGIES)}", param_hint="--strategies")
    if len(set(names)) != len(names) or not names:
        raise typer.BadParameter("name each strategy once", param_hint="--strategies")
    out = out or Path("swarm-out") / f"{base.name}-compare"
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list] = {name: [] for name in names}
    for k in range(repeat):
        for name in names:
            scenario = dataclasses.replace(base, strategy=name, seed=base.seed + k)
            result = _run(scenario, real, netns, out / name)
            result.write(out / (f"results-{name}.json" if repeat == 1 else f"results-{name}-{k}.json"))
            runs[name].append(result)
    results = [runs[name][0] for name in names]
    Console().print(report.compare_table(results, names))
    if repeat > 1:
        Console().print(report.strategies_table(runs))
    if not no_plots:
        from torrentish.swarm import plots

        plots.completion_cdf(results, names, out)
    Console().print(f"results in {out}/")


@swarm_app.command("sweep")
@handle_errors
def sweep(
    spec: Annotated[Path, typer.Argument(metavar="SWEEP", show_default=False,
                                         help="A sweep TOML file (see docs/swarm.md, bench/sweeps/).")],
    address: Annotated[Optional[str], typer.Option(
        metavar="ADDRESS", show_default=False,
        help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        min=1, show_default=False, help="Worker processes of the local cluster (default: every core).")] = None,
    cache: Annotated[Optional[Path], typer.Option(
        metavar="DIR", show_default=False,
        help="Where run results are cached (default: swarm-out/cache).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="DIR", show_default=False,
        help="Where sweep.csv, sweep.json and the plots go (default: swarm-out/NAME-sweep).")] = None,
    no_plots: NoPlots = False,
) -> None:
    """Run every point of a sweep, each strategy and repetition a simulated run on Dask.

    A sweep file names a base scenario, the parameters to vary and their values, the strategies and the number of repetitions (scenario seeds). Runs are cached by a digest of the scenario and the engine version: a rerun, or a sweep with more values, runs only what is missing. Writes DIR/sweep.csv, DIR/sweep.json and, unless --no-plots, a plot of each measure against the first swept parameter (PNG and SVG).

    [bold]Example[/bold]

      torrentish swarm sweep bench/sweeps/qiu-srikant-linger.toml
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from torrentish.swarm import sweep_report
    from torrentish.swarm.sweep import load_sweep
    from torrentish.swarm.sweep_runs import Cache, run_sweep

    plan = load_sweep(spec)
    runs = plan.runs()
    out = out or Path("swarm-out") / f"{plan.name}-sweep"
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    if not console.is_terminal:  # a log or a pipe: the whole table, unwrapped
        console = Console(width=160)
    with Progress(TextColumn(f"{plan.name}: simulating"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("runs", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        outcome = run_sweep(runs, Cache(cache or Path("swarm-out") / "cache"), address=address,
                            workers=workers, progress=progress)
    points = sweep_report.points(plan, runs, outcome.records)
    console.print(sweep_report.table(plan, points))
    sweep_report.write_csv(plan, points, out / "sweep.csv")
    sweep_report.write_json(plan, runs, outcome.records, points, out / "sweep.json")
    if not no_plots:
        from torrentish.swarm import plots

        plots.sweep_measures(plan, points, out)
    console.print(f"{len(runs)} runs, {outcome.ran} simulated now, {len(runs) - outcome.ran} from the cache; "
                  f"results in {out}/")
