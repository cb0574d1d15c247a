"""What a swarm experiment is: groups of peers, the file, the strategies, and a random seed.

A scenario comes from a TOML file (see docs/swarm.md and bench/swarm/*.toml), from command-line
flags, or from the built-in default (the homogeneous flash crowd of the benchmarks). Everything
random about it (arrival times, who talks to whom, every peer's engine) derives from ``seed``.

    name = "flash-crowd"
    seed = 1
    file_size = "64MiB"
    piece_size = "256KiB"
    strategy = "rarest"            # rarest | random | sequential

    [choker]
    slots = 4
    interval = 10
    optimistic_every = 3

    [[group]]
    name = "seed"
    role = "seed"
    up = "1MiB/s"

    [[group]]
    name = "leechers"
    count = 50
    up = "1MiB/s"
    down = "4MiB/s"
    latency = "25ms"              # one way, node to core
    arrival = "flash"             # flash | poisson (rate = arrivals per second, from start)
    departure = "stay"            # stay | leave (when done) | linger (seed for `linger` seconds)
"""

from __future__ import annotations

import dataclasses
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from torrentish.core.picker import STRATEGIES
from torrentish.errors import TorrentishError
from torrentish.swarm.synthetic import VERIFY_MODES
from torrentish.formats.units import parse_rate, parse_size

ROLES = ("seed", "leecher")
ARRIVALS = ("flash", "poisson")
DEPARTURES = ("stay", "leave", "linger")
CLIENTS = ("torrentish", "libtorrent", "aria2")  # the last two: --real only
MAX_PEERS = 20000  # a bound on what a scenario file may ask for (10,001: bench/swarm/large-10000.toml)


class ScenarioError(TorrentishError):
    """A scenario file or flag is malformed."""


@dataclass
class Group:
    name: str = "leechers"
    role: str = "leecher"
    count: int = 1
    up: int = 0  # bytes/s; 0 = unlimited
    down: int = 0
    latency: float = 0.025  # seconds, one way from the node to the core
    arrival: str = "flash"
    start: float = 0.0  # when the first peer of the group arrives
    rate: float = 1.0  # arrivals per second (poisson)
    departure: str = "stay"
    linger: float = 0.0  # seconds of seeding after completion (departure = "linger")
    free_riders: int = 0  # how many of the group never upload
    client: str = "torrentish"
    super_seed: bool = False  # seeds only: BEP 16 super-seeding (torrentish seeds)


@dataclass
class SimOptions:
    quantum: float = 0.01
    rx_lowat: int = 0
    rx_hold: float = 0.02


@dataclass
class Scenario:
    name: str = "flash-crowd"
    description: str = "homogeneous flash crowd: 1 seed + 50 leechers, 64 MiB, equal upload caps"
    seed: int = 1
    file_size: int = 64 * 1024 * 1024
    piece_size: int = 256 * 1024
    strategy: str = "rarest"
    slots: int = 4
    rechoke_interval: float = 10.0
    optimistic_every: int = 3
    max_peers: int = 50  # connections per peer
    tracker_peers: int = 50  # addresses one announce returns
    announce_interval: float = 60.0
    time_limit: float = 3600.0  # seconds of swarm time
    sample_interval: float = 1.0
    verify: str = "sha1"
    sim: SimOptions = field(default_factory=SimOptions)
    engine: dict = field(default_factory=dict)  # other engine Settings fields, by name
    groups: list[Group] = field(default_factory=lambda: default_groups())

    def peers(self) -> list[PeerSpec]:
        """Every peer with its arrival time, in a fixed order; arrivals drawn from ``seed``."""
        rng = random.Random(f"arrivals/{self.seed}")
        out: list[PeerSpec] = []
        for group in self.groups:
            t = group.start
            for i in range(group.count):
                if group.arrival == "poisson" and i:
                    t += rng.expovariate(group.rate)
                out.append(PeerSpec(len(out), f"{group.name}-{i}", group, t, i < group.free_riders))
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PeerSpec:
    index: int
    name: str
    group: Group
    arrival: float
    free_rider: bool

    @property
    def is_seed(self) -> bool:
        return self.group.role == "seed"


def default_groups() -> list[Group]:
    rate = 1024 * 1024
    return [
        Group(name="seed", role="seed", count=1, up=rate, down=4 * rate, super_seed=True),
        Group(name="leechers", role="leecher", count=50, up=rate, down=4 * rate),
    ]


# --------------------------------------------------------------------------- parsing values
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value) -> float:
    """Seconds from a number or text such as ``"25ms"``, ``"1.5s"``, ``"2m"``."""
    if isinstance(value, bool):
        raise ScenarioError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ScenarioError(f"not a duration: {value!r} (try 25ms, 1.5s, 2m)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not 0 <= seconds < 1e7:
        raise ScenarioError(f"duration out of range: {value!r}")
    return seconds


def _size(value, what: str) -> int:
    try:
        return value if isinstance(value, int) and not isinstance(value, bool) else parse_size(str(value))
    except ValueError as exc:
        raise ScenarioError(f"{what}: {exc}") from None


def _rate(value, what: str) -> int:
    try:
        return value if isinstance(value, int) and not isinstance(value, bool) else parse_rate(str(value))
    except ValueError as exc:
        raise ScenarioError(f"{what}: {exc}") from None


def _int(value, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _positive(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise ScenarioError(f"{what} must be a positive number, not {value!r}")
    return float(value)


def _choice(value, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ScenarioError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{what} must be true or false, not {value!r}")
    return value


def _take(table: dict, allowed: set[str], where: str) -> dict:
    if not isinstance(table, dict):
        raise ScenarioError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return table


_GROUP_KEYS = {"name", "role", "count", "up", "down", "latency", "arrival", "start", "rate",
               "departure", "linger", "free_riders", "client", "super_seed"}
_TOP_KEYS = {"name", "description", "seed", "file_size", "piece_size", "strategy", "max_peers",
             "tracker_peers", "announce_interval", "time_limit", "sample_interval", "verify",
             "choker", "sim", "engine", "group", "super_seed"}


def _group(table: dict, number: int) -> Group:
    where = f"group {number}"
    t = _take(table, _GROUP_KEYS, where)
    g = Group(name=str(t.get("name", f"group{number}")))
    g.role = _choice(t.get("role", "leecher"), f"{where} role", ROLES)
    g.count = _int(t.get("count", 1), f"{where} count", 1, MAX_PEERS)
    g.up = _rate(t.get("up", 0), f"{where} up")
    g.down = _rate(t.get("down", 0), f"{where} down")
    g.latency = parse_duration(t.get("latency", g.latency))
    g.arrival = _choice(t.get("arrival", "flash"), f"{where} arrival", ARRIVALS)
    g.start = parse_duration(t.get("start", 0))
    g.rate = _positive(t.get("rate", 1.0), f"{where} rate")
    g.departure = _choice(t.get("departure", "stay"), f"{where} departure", DEPARTURES)
    g.linger = parse_duration(t.get("linger", 0))
    g.free_riders = _int(t.get("free_riders", 0), f"{where} free_riders", 0, g.count)
    g.client = _choice(t.get("client", "torrentish"), f"{where} client", CLIENTS)
    g.super_seed = _bool(t.get("super_seed", False), f"{where} super_seed")
    if g.super_seed and g.role != "seed":
        raise ScenarioError(f"{where}: super_seed is for seed groups")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", g.name):
        raise ScenarioError(f"{where} name must be 1-40 letters, digits, '_', '.' or '-'")
    return g


# Settings the scenario sets through its own keys, or that make no sense in a swarm experiment.
_ENGINE_EXCLUDED = {"upload_slots", "rechoke_interval", "optimistic_every", "max_peers_per_torrent",
                    "max_upload_rate", "max_download_rate", "super_seed"}  # super_seed: per seed group


def _engine(table) -> dict:
    """[engine]: any other field of torrentish.engine.settings.Settings, checked by name and type."""
    from torrentish.engine.settings import Settings

    if not isinstance(table, dict):
        raise ScenarioError("[engine] must be a table")
    defaults = Settings()
    out = {}
    for key, value in table.items():
        if key in _ENGINE_EXCLUDED or not hasattr(defaults, key) or key.startswith("_"):
            raise ScenarioError(f"[engine]: {key!r} is not an engine setting a scenario may change")
        default = getattr(defaults, key)
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(default, bool) and isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
            value = float(value)
        else:
            ok = type(value) is type(default)
        if not ok:
            raise ScenarioError(f"[engine]: {key} must be like {default!r}, not {value!r}")
        out[key] = value
    return out


def scenario_from_dict(data: dict) -> Scenario:
    t = _take(data, _TOP_KEYS, "scenario")
    s = Scenario(groups=[])
    s.name = str(t.get("name", "scenario"))
    s.description = str(t.get("description", ""))
    s.seed = _int(t.get("seed", 1), "seed", 0, 2**63)
    s.file_size = _size(t.get("file_size", s.file_size), "file_size")
    s.piece_size = _size(t.get("piece_size", s.piece_size), "piece_size")
    s.strategy = _choice(t.get("strategy", "rarest"), "strategy", STRATEGIES)
    s.max_peers = _int(t.get("max_peers", s.max_peers), "max_peers", 1, 1000)
    s.tracker_peers = _int(t.get("tracker_peers", s.tracker_peers), "tracker_peers", 1, 1000)
    s.announce_interval = _positive(parse_duration(t.get("announce_interval", 60)), "announce_interval")
    s.time_limit = _positive(parse_duration(t.get("time_limit", 3600)), "time_limit")
    s.sample_interval = _positive(parse_duration(t.get("sample_interval", 1)), "sample_interval")
    s.verify = _choice(t.get("verify", "sha1"), "verify", VERIFY_MODES)
    choker = _take(t.get("choker", {}), {"slots", "interval", "optimistic_every"}, "[choker]")
    s.slots = _int(choker.get("slots", 4), "choker slots", 0, 1000)
    s.rechoke_interval = _positive(parse_duration(choker.get("interval", 10)), "choker interval")
    s.optimistic_every = _int(choker.get("optimistic_every", 3), "choker optimistic_every", 1, 1000)
    sim = _take(t.get("sim", {}), {"quantum", "rx_lowat", "rx_hold"}, "[sim]")
    s.sim.quantum = _positive(parse_duration(sim.get("quantum", s.sim.quantum)), "sim quantum")
    s.sim.rx_lowat = _size(sim.get("rx_lowat", 0), "sim rx_lowat")
    s.sim.rx_hold = _positive(parse_duration(sim.get("rx_hold", s.sim.rx_hold)), "sim rx_hold")
    s.engine = _engine(t.get("engine", {}))
    groups = t.get("group", [])
    if not isinstance(groups, list):
        raise ScenarioError("group must be an array of tables ([[group]])")
    s.groups = [_group(g, i + 1) for i, g in enumerate(groups)]
    if _bool(t.get("super_seed", False), "super_seed"):  # top level: every seed group
        for g in s.groups:
            g.super_seed = g.super_seed or g.role == "seed"
    check(s)
    return s


def check(s: Scenario) -> None:
    """Whole-scenario rules (also after command-line overrides)."""
    if not s.groups:
        raise ScenarioError("a scenario needs at least one [[group]]")
    if not any(g.role == "seed" for g in s.groups):
        raise ScenarioError("a scenario needs a group with role = \"seed\"")
    if not any(g.role == "leecher" for g in s.groups):
        raise ScenarioError("a scenario needs a group with role = \"leecher\"")
    if sum(g.count for g in s.groups) > MAX_PEERS:
        raise ScenarioError(f"at most {MAX_PEERS} peers in a scenario")
    names = [g.name for g in s.groups]
    if len(set(names)) != len(names):
        raise ScenarioError("group names must differ")
    if s.piece_size < 16384 or s.piece_size % 16384 or s.piece_size > 64 * 1024 * 1024:
        raise ScenarioError("piece_size must be a multiple of 16 KiB, at most 64 MiB")
    if not 0 < s.file_size <= 1 << 40:
        raise ScenarioError("file_size must be from 1 byte to 1 TiB")
    if -(-s.file_size // s.piece_size) > 1 << 20:
        raise ScenarioError("too many pieces (more than 1,048,576)")
    for g in s.groups:
        if g.role == "seed" and g.free_riders:
            raise ScenarioError(f"group {g.name}: seeds cannot be free riders")


def read_toml(path: Path) -> dict:
    """A TOML file's table; a missing, unreadable or malformed file is a one-line ScenarioError."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None


def load_scenario(path: Path) -> Scenario:
    return scenario_from_dict(read_toml(path))


# ------------------------------------------------------------------------ command-line flags
def apply_overrides(s: Scenario, **flags) -> Scenario:
    """Command-line flags over a scenario; None means "not given".

    Whole-scenario flags replace the field. Group flags apply by role: ``seeds``/``leechers`` set the
    count of the first seed/leecher group; ``up`` sets every leecher group's upload, ``seed_up``
    every seed group's, ``super_seed`` every seed group's flag; ``down``, ``latency`` every group;
    ``arrival``, ``arrival_rate``, ``departure``, ``linger``, ``free_riders`` every leecher group.
    """
    s = dataclasses.replace(s, groups=[dataclasses.replace(g) for g in s.groups],
                            sim=dataclasses.replace(s.sim))
    simple = {"seed": "seed", "size": "file_size", "piece_size": "piece_size", "strategy": "strategy",
              "slots": "slots", "rechoke_interval": "rechoke_interval",
              "optimistic_every": "optimistic_every", "max_peers": "max_peers",
              "time_limit": "time_limit", "verify": "verify", "name": "name"}
    for flag, attribute in simple.items():
        if flags.get(flag) is not None:
            setattr(s, attribute, flags[flag])
    if flags.get("quantum") is not None:
        s.sim.quantum = flags["quantum"]
    seeds = [g for g in s.groups if g.role == "seed"]
    leechers = [g for g in s.groups if g.role == "leecher"]
    if flags.get("seeds") is not None:
        seeds[0].count = flags["seeds"]
    if flags.get("leechers") is not None:
        leechers[0].count = flags["leechers"]
    for g in s.groups:
        for flag, attribute in (("down", "down"), ("latency", "latency")):
            if flags.get(flag) is not None:
                setattr(g, attribute, flags[flag])
        if g.role == "seed" and flags.get("seed_up") is not None:
            g.up = flags["seed_up"]
        if g.role == "seed" and flags.get("super_seed") is not None:
            g.super_seed = flags["super_seed"]
        if g.role == "leecher":
            for flag, attribute in (("up", "up"), ("arrival", "arrival"), ("arrival_rate", "rate"),
                                    ("departure", "departure"), ("linger", "linger"),
                                    ("free_riders", "free_riders")):
                if flags.get(flag) is not None:
                    setattr(g, attribute, flags[flag])
            g.free_riders = min(g.free_riders, g.count)
    for what, choices, value in (("strategy", STRATEGIES, s.strategy), ("verify", VERIFY_MODES, s.verify)):
        _choice(value, what, choices)
    for g in s.groups:
        _choice(g.arrival, "arrival", ARRIVALS)
        _choice(g.departure, "departure", DEPARTURES)
        if g.count < 1:
            raise ScenarioError("group counts must be at least 1")
    check(s)
    return s
