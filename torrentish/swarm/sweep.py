"""What a sweep is: one base scenario, parameters to vary over lists of values, strategies, and
repetitions; expanded into runs (one scenario each) in a fixed order.

    name = "seed-bandwidth"
    description = "..."
    scenario = "../swarm/slow-seed.toml"   # relative to this file; or an inline [scenario] table
    strategies = ["rarest", "random"]     # default: the scenario's own
    repetitions = 5                        # scenario seeds seed, seed + 1, ...

    [set]                                  # fixed changes to the base, applied first
    leechers = 20

    [vary]                                 # every combination of these values is a point
    seed_up = ["128KiB/s", "256KiB/s", "512KiB/s"]

The parameters are those of ``apply_overrides`` (the flags of ``swarm run``), with the same units
and the same checks as a scenario file; an unknown name, an empty list or a value of the wrong
unit is a ScenarioError of one line.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from torrentish.core.picker import STRATEGIES
from torrentish.swarm.scenario import (
    ARRIVALS, DEPARTURES, MAX_PEERS, Scenario, ScenarioError, _bool, _choice, _int, _positive, _rate,
    _size, _take, apply_overrides, parse_duration, read_toml, scenario_from_dict)
from torrentish.swarm.synthetic import VERIFY_MODES

MAX_RUNS = 10_000
MAX_REPETITIONS = 1000


def _duration(value, what: str) -> float:
    try:
        return parse_duration(value)
    except ScenarioError as exc:
        raise ScenarioError(f"{what}: {exc}") from None


def _count(value, what: str) -> int:
    return _int(value, what, 0, MAX_PEERS)


# name -> (unit, how a value is read); the name is also the key of apply_overrides.
PARAMETERS = {
    "seeds": ("peers", _count),
    "leechers": ("peers", _count),
    "free_riders": ("peers", _count),
    "size": ("bytes", _size),
    "piece_size": ("bytes", _size),
    "up": ("bytes/s", _rate),
    "seed_up": ("bytes/s", _rate),
    "down": ("bytes/s", _rate),
    "latency": ("s", _duration),
    "arrival_rate": ("per s", _positive),
    "linger": ("s", _duration),
    "rechoke_interval": ("s", _duration),
    "time_limit": ("s", _duration),
    "slots": ("", lambda v, what: _int(v, what, 0, 1000)),
    "optimistic_every": ("", lambda v, what: _int(v, what, 1, 1000)),
    "max_peers": ("", lambda v, what: _int(v, what, 1, 1000)),
    "super_seed": ("", _bool),
    "arrival": ("", lambda v, what: _choice(v, what, ARRIVALS)),
    "departure": ("", lambda v, what: _choice(v, what, DEPARTURES)),
    "verify": ("", lambda v, what: _choice(v, what, VERIFY_MODES)),
}


@dataclass(frozen=True)
class Run:
    """One simulated run: a point of the sweep, a strategy, a repetition, and its scenario."""

    point: tuple[tuple[str, object], ...]  # (parameter, value) in the order of [vary]
    strategy: str
    repetition: int
    scenario: Scenario = field(compare=False)


@dataclass
class Sweep:
    name: str
    description: str
    base: Scenario
    vary: dict[str, list]  # parameter -> values (converted)
    labels: dict[str, list[str]]  # parameter -> values as written (for tables and plots)
    strategies: list[str]
    repetitions: int

    def runs(self) -> list[Run]:
        """Every run, points in the order of [vary] (the last parameter fastest), then strategies,
        then repetitions; repetition k runs with scenario seed ``base.seed + k``."""
        names = list(self.vary)
        out = []
        for values in itertools.product(*(self.vary[n] for n in names)):
            point = tuple(zip(names, values))
            scenario = apply_overrides(self.base, **dict(point))
            for strategy in self.strategies:
                for k in range(self.repetitions):
                    out.append(Run(point, strategy, k, dataclasses.replace(
                        scenario, strategy=strategy, seed=self.base.seed + k, name=self.name)))
        return out


_SWEEP_KEYS = {"name", "description", "scenario", "strategies", "repetitions", "set", "vary"}


def _values(name: str, raw) -> list:
    if name not in PARAMETERS:
        raise ScenarioError(f"[vary]: unknown parameter {name!r} (known: {', '.join(sorted(PARAMETERS))})")
    if not isinstance(raw, list):
        raise ScenarioError(f"[vary] {name} must be a list of values")
    if not raw:
        raise ScenarioError(f"[vary] {name}: the list of values is empty")
    _, read = PARAMETERS[name]
    values = [read(v, f"[vary] {name}") for v in raw]
    if len(set(map(repr, values))) != len(values):
        raise ScenarioError(f"[vary] {name}: a value is given twice")
    return values


def sweep_from_dict(data: dict, base_dir: Path = Path(".")) -> Sweep:
    t = _take(data, _SWEEP_KEYS, "sweep")
    source = t.get("scenario")
    if isinstance(source, str):
        from torrentish.swarm.scenario import load_scenario

        base = load_scenario(base_dir / source)
    elif isinstance(source, dict):
        base = scenario_from_dict(source)
    else:
        raise ScenarioError("sweep: scenario must be a file name or a [scenario] table")
    fixed = _take(t.get("set", {}), set(PARAMETERS), "[set]")
    base = apply_overrides(base, **{k: PARAMETERS[k][1](v, f"[set] {k}") for k, v in fixed.items()})
    vary = t.get("vary")
    if not isinstance(vary, dict) or not vary:
        raise ScenarioError("sweep: [vary] must name at least one parameter")
    converted = {name: _values(name, raw) for name, raw in vary.items()}
    strategies = t.get("strategies", [base.strategy])
    if not isinstance(strategies, list) or not strategies:
        raise ScenarioError("sweep: strategies must be a non-empty list")
    for s in strategies:
        _choice(s, "sweep strategies", STRATEGIES)
    if len(set(strategies)) != len(strategies):
        raise ScenarioError("sweep: name each strategy once")
    repetitions = _int(t.get("repetitions", 1), "sweep repetitions", 1, MAX_REPETITIONS)
    sweep = Sweep(name=str(t.get("name", base.name)), description=str(t.get("description", "")),
                  base=base, vary=converted, labels={n: [str(v) for v in vary[n]] for n in vary},
                  strategies=list(strategies), repetitions=repetitions)
    total = repetitions * len(strategies)
    for values in converted.values():
        total *= len(values)
    if total > MAX_RUNS:
        raise ScenarioError(f"sweep: {total} runs, at most {MAX_RUNS}")
    sweep.runs()  # every point must make a valid scenario (apply_overrides checks it)
    return sweep


def load_sweep(path: Path) -> Sweep:
    data = read_toml(path)
    try:
        return sweep_from_dict(data, path.parent)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
