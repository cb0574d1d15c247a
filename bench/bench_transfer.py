"""Benchmark: one file from a seed to a leecher over 127.0.0.1, torrentish against aria2.

    .venv/bin/python bench/bench_transfer.py [--dir /tmp/torrentish-bench] [--sizes 1GiB,4GiB]
        [--repeat 3] [--pairs tt,aa,ta,at] [--libtorrent] [--json bench/out/transfer.json] [--profile]
        [--baseline DIR --pairs tt,bb,aa]

For each size it makes (or reuses) a file of random-ish bytes in --dir (bench_create's files), makes
one torrent of it with ``torrentish create`` (automatic piece length), and runs every pair of
clients on that torrent, the pairs interleaved, --repeat times each:

    tt  torrentish -> torrentish     aa  aria2 -> aria2
    ta  torrentish -> aria2          at  aria2 -> torrentish
    ll  libtorrent -> libtorrent     (--libtorrent; Python bindings, TCP only, for context)
    bb  baseline -> baseline         (--baseline DIR: torrentish from another copy of the repository)

Seed and leecher are separate processes. The seed starts first and the leecher only once the seed
has checked its data and listens (torrentish: its resume record exists, since -q prints nothing;
aria2: it listens only after ``-V`` and has announced); the leecher downloads into a fresh
directory and exits when done (torrentish ``get``, aria2 ``--seed-time=0 --file-allocation=none``);
then the seed gets SIGTERM. Each torrentish process has a fresh TORRENTISH_STATE_DIR, so nothing is
resumed, and runs with ``--no-lsd --no-dht --no-port-mapping`` as aria2 runs without LPD, DHT and
PEX. aria2 finds its peers through a test tracker (tests/support/tracker.py), one per run, whose
URL is the only thing that differs between the runs' .torrent files (the info dictionary is the
same bytes).

Measured per run: wall time from the leecher's start to its exit; CPU time (user + system) of each
side; peak RSS of each side. Every command runs under GNU time, which reports the command's own
CPU time and peak RSS (``os.wait4`` on a child of this process would report at least this
process's RSS: Linux carries the forking process's peak across exec). The seed's CPU time is
reported twice: during the transfer (from /proc/PID/stat when the leecher starts and when it
exits) and for its whole life (start-up and checking the data included). "CPU s/GiB" counts the
leecher's whole process and the seed during the transfer. Tables show medians of each figure.

--profile runs torrentish -> torrentish once per size with py-spy sampling both processes (stacks
in bench/out/profile-<size>-{seed,leech}.raw) and prints where each event loop's time goes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_create import make_file  # noqa: E402  (the same data files as the create benchmark)

from tests.support import free_port, is_listening  # noqa: E402
from tests.support.tracker import Tracker  # noqa: E402
from torrentish.formats.metainfo import build_torrent, load_torrent  # noqa: E402
from torrentish.formats.units import format_size, parse_size  # noqa: E402

GNU_TIME = "/usr/bin/time"
PYTHON = sys.executable
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PROFILE_RATE = 250  # py-spy samples per second
GiB = 1 << 30

ARIA2_FLAGS = (  # nothing but the tracker and direct connections; no console or log output
    "--no-conf=true", "--enable-dht=false", "--enable-dht6=false", "--enable-peer-exchange=false",
    "--bt-enable-lpd=false", "--bt-tracker-connect-timeout=3", "--bt-tracker-timeout=3",
    "--quiet=true", "--summary-interval=0", "--show-console-readout=false",
    "--auto-file-renaming=false", "--log-level=warn",
)  # fmt: skip

# libtorrent seed or leecher, TCP only (see docs/reference-clients.md).
LT_SCRIPT = r"""
import signal, sys, time, libtorrent as lt
mode, torrent, save, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = lt.session({"enable_outgoing_utp": False, "enable_incoming_utp": False, "enable_dht": False,
    "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False, "enable_ip_notifier": False,
    "allow_multiple_connections_per_ip": True, "listen_interfaces": f"127.0.0.1:{port}",
    "alert_mask": lt.alert_category.error | lt.alert_category.storage})
p = lt.add_torrent_params(); p.ti = lt.torrent_info(torrent); p.save_path = save
h = s.add_torrent(p)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
if mode == "leech":
    h.connect_peer(("127.0.0.1", int(sys.argv[5])))
while not h.status().is_seeding:
    time.sleep(0.02)
if mode == "seed":
    print("ready", flush=True)
    while not stop:
        time.sleep(0.1)
else:
    h.save_resume_data(lt.torrent_handle.flush_disk_cache)
    while not any(isinstance(a, lt.save_resume_data_alert) for a in s.pop_alerts()):
        time.sleep(0.02)
"""

CLIENTS = {"t": "torrentish", "b": "torrentish (baseline)", "a": "aria2", "l": "libtorrent"}
BASELINE: Path | None = None  # --baseline: another copy of the repository, run as client "b"


def quiet_discovery_flags(command: str) -> list[str]:
    """``--no-lsd``/``--no-dht``/``--no-port-mapping`` where ``torrentish COMMAND`` has them: aria2
    runs without LPD and DHT too, on a machine with a LAN address LSD would add a second connection
    to the same seed, and a benchmark has no business asking the machine's gateway for a port."""
    text = subprocess.run([PYTHON, "-m", "torrentish", command, "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, COLUMNS="200")).stdout
    return [flag for flag in ("--no-lsd", "--no-dht", "--no-port-mapping") if flag in text]


@dataclass
class Run:
    pair: str
    size: int
    wall: float  # leecher start to leecher exit, seconds
    leech_user: float  # CPU seconds of the whole leecher process, user and system
    leech_sys: float
    seed_user: float  # CPU seconds of the seed while the leecher ran, user and system
    seed_sys: float
    seed_cpu_total: float  # user + system for the seed's whole life (start-up and data check too)
    leech_rss: int  # peak resident set, bytes
    seed_rss: int

    @property
    def leech_cpu(self) -> float:
        return self.leech_user + self.leech_sys

    @property
    def seed_cpu(self) -> float:
        return self.seed_user + self.seed_sys

    @property
    def cpu_per_gib(self) -> float:
        return (self.leech_cpu + self.seed_cpu) / (self.size / GiB)


class Measured:
    """A command running under GNU time; ``pid`` is the command's own process."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT):
        self.usage_path = log.with_suffix(".usage")
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [GNU_TIME, "-f", "%e %U %S %M", "-o", str(self.usage_path), *map(str, argv)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        while not (found := children.read_text().split() if self.proc.poll() is None else ["gone"]):
            time.sleep(0.001)
        if found == ["gone"]:
            raise SystemExit(f"{argv[0]} did not start:\n{self.tail()}")
        self.pid = int(found[0])

    def running(self) -> bool:
        return self.proc.poll() is None

    def cpu_now(self) -> tuple[float, float]:
        """(user, system) CPU seconds of every thread so far, from /proc/PID/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLOCK_TICK, int(fields[12]) / CLOCK_TICK

    def usage(self) -> tuple[float, float, int]:
        """(user, system CPU seconds, peak RSS bytes) of the finished command."""
        _, user, system, max_kib = self.usage_path.read_text().split("\n")[-2].split()
        return float(user), float(system), int(max_kib) * 1024

    def stop(self, timeout: float = 30) -> int:
        if self.running():
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SystemExit(f"{self.log.stem} ignored SIGTERM for {timeout:.0f}s:\n{self.tail()}")

    def kill(self) -> None:
        if self.running():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@dataclass
class Setup:
    """Everything one run needs to start its two processes."""

    torrent: Path
    info_hash: bytes
    data: Path  # the seed's file
    down: Path  # the leecher's download directory (fresh)
    work: Path
    tracker: Tracker
    seed_port: int
    leech_port: int
    seed_flags: list[str]  # extra flags of `torrentish seed` / `torrentish get`
    get_flags: list[str]
    wrap: tuple[str, ...] = ()  # a prefix for the leecher's command line (a profiler)


def _checkout(kind: str) -> Path:
    """Where `python -m torrentish` runs from (its package is the one found there)."""
    return BASELINE if kind == "b" and BASELINE is not None else ROOT


def start_seed(kind: str, s: Setup) -> Measured:
    """Start a seed and wait until it has checked its data and listens."""
    log = s.work / "seed.log"
    if kind in "tb":
        state = s.work / "seed-state"
        env = dict(os.environ, TORRENTISH_STATE_DIR=str(state))
        proc = Measured([PYTHON, "-m", "torrentish", "seed", s.torrent, "--data", s.data,
                         "--port", s.seed_port, "-q", *s.seed_flags], log, env, cwd=_checkout(kind))
        # -q prints nothing: the resume record, saved after the check, says the check is over.
        ready = lambda: any(state.glob("resume/*.resume")) and is_listening(s.seed_port)  # noqa: E731
    elif kind == "a":
        proc = Measured(["aria2c", *ARIA2_FLAGS, "-V", "--seed-ratio=0.0", f"--dir={s.data.parent}",
                         f"--listen-port={s.seed_port}", f"--log={s.work / 'seed.aria2.log'}",
                         f"--stop-with-process={os.getpid()}", s.torrent], log)
        # aria2 listens only after checking; the leecher finds it through the tracker.
        ready = lambda: is_listening(s.seed_port) and any(  # noqa: E731
            a.port == s.seed_port for a in s.tracker.announces(s.info_hash).values())
    else:
        proc = Measured([PYTHON, "-c", LT_SCRIPT, "seed", s.torrent, s.data.parent, s.seed_port], log)
        ready = lambda: "ready" in log.read_text()  # noqa: E731
    deadline = time.monotonic() + 300
    while not ready():
        if not proc.running() or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the {CLIENTS[kind]} seed did not get ready:\n{proc.tail()}")
        time.sleep(0.02)
    if kind != "a":  # a seed that does not announce: tell the tracker, for an aria2 leecher
        s.tracker.add_peer(s.info_hash, "127.0.0.1", s.seed_port)
    return proc


def start_leech(kind: str, s: Setup) -> Measured:
    log = s.work / "leech.log"
    if kind in "tb":
        env = dict(os.environ, TORRENTISH_STATE_DIR=str(s.work / "leech-state"))
        return Measured([*s.wrap, PYTHON, "-m", "torrentish", "get", s.torrent, "-o", s.down, "--peer",
                         f"127.0.0.1:{s.seed_port}", "--port", s.leech_port, "-q", *s.get_flags], log, env,
                        cwd=_checkout(kind))
    if kind == "a":
        return Measured(["aria2c", *ARIA2_FLAGS, "--seed-time=0", "--file-allocation=none",
                         f"--dir={s.down}", f"--listen-port={s.leech_port}",
                         f"--log={s.work / 'leech.aria2.log'}", f"--stop-with-process={os.getpid()}",
                         s.torrent], log)
    return Measured([PYTHON, "-c", LT_SCRIPT, "leech", s.torrent, s.down, s.leech_port, s.seed_port], log)


def check_copy(original: Path, copy: Path, rng: random.Random) -> None:
    """The copy has the right size and matches the original at 64 random 16 KiB spots and the end."""
    size = original.stat().st_size
    if not copy.exists() or copy.stat().st_size != size:
        raise SystemExit(f"{copy} is missing or has the wrong size")
    spots = [rng.randrange(0, size - 16384) for _ in range(64)] + [size - 16384]
    with open(original, "rb") as a, open(copy, "rb") as b:
        for spot in spots:
            a.seek(spot)
            b.seek(spot)
            if a.read(16384) != b.read(16384):
                raise SystemExit(f"{copy} differs from {original} at byte {spot}")


def run_pair(pair: str, data: Path, info_raw: bytes, info_hash: bytes, work: Path, timeout: float,
             rng: random.Random, flags: tuple[list[str], list[str]] = ([], []), profile: Path | None = None,
             ) -> Run:
    """One transfer. With ``profile`` (a path prefix), py-spy samples both sides: -seed.raw, -leech.raw."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "down").mkdir(parents=True)
    seed = leech = spy = None
    try:
        with Tracker() as tracker:
            torrent = work / "bench.torrent"
            torrent.write_bytes(build_torrent(info_raw, [[tracker.announce_url]]))
            s = Setup(torrent, info_hash, data, work / "down", work, tracker, free_port(), free_port(), *flags)
            os.sync()  # start from a quiet disk
            seed = start_seed(pair[0], s)
            if profile is not None:
                spy = subprocess.Popen([*PY_SPY, "-o", f"{profile}-seed.raw", "--pid", str(seed.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                s.wrap = (*PY_SPY, "-o", f"{profile}-leech.raw", "--")
                time.sleep(1)  # py-spy attached
            seed_cpu_start = seed.cpu_now()
            start = time.perf_counter()
            leech = start_leech(pair[1], s)
            try:
                status = leech.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise SystemExit(f"{pair}: no complete download within {timeout:.0f}s:\n{leech.tail()}")
            wall = time.perf_counter() - start
            seed_cpu_end = seed.cpu_now()
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                spy.wait(60)
            if status != 0:
                raise SystemExit(f"{pair}: the leecher exited with status {status}:\n{leech.tail()}")
            seed.stop()
        check_copy(data, work / "down" / data.name, rng)
        leech_user, leech_sys, leech_rss = leech.usage()
        seed_total_user, seed_total_sys, seed_rss = seed.usage()
        return Run(pair, data.stat().st_size, wall, leech_user, leech_sys,
                   seed_cpu_end[0] - seed_cpu_start[0], seed_cpu_end[1] - seed_cpu_start[1],
                   seed_total_user + seed_total_sys, leech_rss, seed_rss)
    finally:
        for proc in (leech, seed):
            if proc is not None:
                proc.kill()
        if spy is not None and spy.poll() is None:
            spy.kill()
        shutil.rmtree(work, ignore_errors=True)  # also drops the copy's dirty pages unwritten


PY_SPY = (str(Path(PYTHON).parent / "py-spy"), "record", "--threads", "--idle", "--nonblocking",
          "--rate", str(PROFILE_RATE), "--format", "raw")
# Where the event loop's time goes: the first category any frame of a sample's stack matches.
PROFILE_CATEGORIES = (
    ("idle (waiting in epoll)", ("EpollIOManager.get_events",)),
    ("thread hand-offs (to_thread, wake-ups)", ("start_thread_soon", "to_thread_run_sync", "run_sync_soon",
                                                 "deliver_worker_fn_result", "WakeupSocketpair", "CapacityLimiter")),
    ("send_all (syscall included)", ("send_all",)),
    ("receive_some (syscall included)", ("receive_some",)),
    ("piece read cache", ("PieceReadCache", "read_block")),
    ("picker", ("PiecePicker.",)),
    ("PieceBuffer", ("PieceBuffer.",)),
    ("rate meters, token buckets", ("RateMeter.", "TokenBucket.")),
    ("wire codec", ("PeerCodec.", "wire/codec.py")),
    ("engine handlers (own code)", ("Torrent.", "Uploads.", "Connector.")),
    ("PeerConnection loops (own code)", ("PeerConnection.",)),
    ("trio scheduler", ("trio/",)),
)


def summarise_profile(path: Path, side: str) -> str:
    """Seconds of the main thread per category (wall: idle included), and of the worker threads."""
    main, workers, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" not in frames[0]:  # a worker thread: idle when parked in the thread cache
            leaf = frames[-1].split(" (")[0]
            workers["idle (parked)" if leaf == "WorkerThread._work" else leaf] += int(count)
            continue
        total += int(count)
        main[next((name for name, keys in PROFILE_CATEGORIES
                   if any(k in f for f in frames for k in keys)), "other (start-up, exit, ...)")] += int(count)
    lines = [f"{side} main thread, {total / PROFILE_RATE:.2f} s sampled:"]
    lines += [f"  {n / PROFILE_RATE:6.2f} s  {name}" for name, n in main.most_common()]
    lines.append(f"{side} worker threads, by innermost frame:")
    lines += [f"  {n / PROFILE_RATE:6.2f} s  {name}" for name, n in workers.most_common(6)]
    return "\n".join(lines)


def median(runs: list[Run], pair: str) -> Run:
    mine = [r for r in runs if r.pair == pair]
    values = {k: statistics.median(getattr(r, k) for r in mine)
              for k in ("wall", "leech_user", "leech_sys", "seed_user", "seed_sys", "seed_cpu_total",
                        "leech_rss", "seed_rss")}
    return Run(pair, mine[0].size, **values)


def pair_name(pair: str) -> str:
    return f"{CLIENTS[pair[0]]} -> {CLIENTS[pair[1]]}"


def report(size: int, piece: int, pairs: list[str], runs: list[Run]) -> str:
    medians = {p: median(runs, p) for p in pairs}
    base = medians.get("aa")
    lines = [
        f"### {format_size(size)} file, piece length {format_size(piece)} ({-(-size // piece)} pieces)",
        "",
        "| seed -> leecher | wall s | MiB/s | leecher CPU s (user+sys) | seed CPU s in transfer (user+sys) "
        "| seed CPU s, whole life | CPU s/GiB | leecher RSS | seed RSS | wall / aria2 | CPU / aria2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pair, m in medians.items():
        versus = (f"{m.wall / base.wall:.2f} | {m.cpu_per_gib / base.cpu_per_gib:.2f}" if base else "- | -")
        lines.append(
            f"| {pair_name(pair)} | {m.wall:.2f} | {size / m.wall / 2**20:.0f} "
            f"| {m.leech_cpu:.2f} ({m.leech_user:.2f}+{m.leech_sys:.2f}) "
            f"| {m.seed_cpu:.2f} ({m.seed_user:.2f}+{m.seed_sys:.2f}) | {m.seed_cpu_total:.2f} | {m.cpu_per_gib:.2f} "
            f"| {format_size(m.leech_rss)} | {format_size(m.seed_rss)} | {versus} |")
    return "\n".join(lines)


def describe_machine(directory: Path) -> dict:
    aria2 = subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "torrentish"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:  # the engine as measured: a digest of its sources, to tell runs of a moving tree apart
        digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted((ROOT / "torrentish").rglob("*.py"))))
        commit += f"+changes (sources {digest.hexdigest()[:8]})"
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "aria2": aria2, "commit": commit,
            "load_at_start": os.getloadavg()[0], "free_disk": shutil.disk_usage(directory).free}


def make_torrent(data: Path) -> tuple[Path, bytes, bytes, int]:
    torrent = data.with_suffix(".torrent")
    subprocess.run([PYTHON, "-m", "torrentish", "create", data, "-o", torrent, "--force"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    info = load_torrent(torrent).info
    return torrent, info.raw, info.info_hash, info.piece_length


def prepare(directory: Path, size: int) -> tuple[dict, Path, Path, bytes, bytes, int]:
    """One size's setup for a benchmark on one file: the machine (printed), the data file, its
    torrent (path, info raw bytes, info hash, piece length), the package compiled, the data warm."""
    directory.mkdir(parents=True, exist_ok=True)
    compile_sources()
    machine = describe_machine(directory)
    print(f"# {machine['cpus']} CPUs, Python {machine['python']}, commit {machine['commit']}, "
          f"load {machine['load_at_start']:.2f}", flush=True)
    data = directory / f"bench-{size}.bin"
    make_file(data, size)
    torrent, info_raw, info_hash, piece = make_torrent(data)
    warm(data)
    return machine, data, torrent, info_raw, info_hash, piece


def warm(path: Path) -> None:
    """Read the file once so that the seeds read it from the page cache."""
    buffer = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def compile_sources() -> None:
    """Byte-compile the package and the virtualenv's libraries, as `pip install` does.

    An editable install leaves torrentish's own modules uncompiled, and with
    PYTHONDONTWRITEBYTECODE set (it is on some machines) every torrentish process would
    compile them again at start: about 0.07 CPU-s a run that a user's install never pays."""
    import compileall
    import sysconfig

    checkouts = [ROOT] + ([BASELINE] if BASELINE is not None else [])
    for where in (*(c / "torrentish" for c in checkouts), Path(sysconfig.get_paths()["purelib"])):
        compileall.compile_dir(where, quiet=1, workers=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--sizes", default="1GiB", help="comma-separated sizes, e.g. 1GiB,4GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", default="tt,aa,ta,at", help="seed+leecher letters: t torrentish, "
                        "a aria2, l libtorrent, b the --baseline copy (e.g. tt,aa,ta,at,ll)")
    parser.add_argument("--libtorrent", action="store_true", help="add ll (libtorrent -> libtorrent)")
    parser.add_argument("--baseline", type=Path, help="another copy of the repository (e.g. `git archive "
                        "COMMIT | tar -x -C DIR`): client b, to set a change beside what it changes (pair bb)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per download")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "transfer.json")
    parser.add_argument("--profile", action="store_true", help="instead of timing: one torrentish -> "
                        "torrentish run under py-spy, stacks in bench/out/profile-<size>-*.raw, and a summary")
    args = parser.parse_args()
    pairs = [p for p in args.pairs.split(",") if p] + (["ll"] if args.libtorrent else [])
    global BASELINE
    BASELINE = args.baseline.resolve() if args.baseline else None
    if any("b" in p for p in pairs) and BASELINE is None:
        parser.error("pair letter b needs --baseline DIR")
    if any(len(p) != 2 or not set(p) <= set(CLIENTS) for p in pairs):
        parser.error(f"--pairs: each pair is two of {''.join(CLIENTS)}, e.g. tt,aa,ta,at")
    if not Path(GNU_TIME).exists() or not shutil.which("aria2c"):
        raise SystemExit("needs GNU time (/usr/bin/time) and aria2c (apt-get install time aria2)")
    args.dir.mkdir(parents=True, exist_ok=True)
    compile_sources()
    machine = describe_machine(args.dir)
    print(f"# {machine['cpus']} CPUs, Python {machine['python']}, {machine['aria2']}, commit "
          f"{machine['commit']}, load {machine['load_at_start']:.2f}, "
          f"{format_size(machine['free_disk'])} free in {args.dir}", flush=True)
    rng = random.Random(1)
    flags = (quiet_discovery_flags("seed"), quiet_discovery_flags("get"))
    print(f"# torrentish seed ... -q {' '.join(flags[0])}; torrentish get ... -q {' '.join(flags[1])}")
    results: dict = {"machine": machine, "command": sys.argv,
                     "torrentish_flags": {"seed": flags[0], "get": flags[1]}, "sizes": []}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for size in (parse_size(s) for s in args.sizes.split(",")):
        data = args.dir / f"bench-{size}.bin"
        need = size + (0 if data.exists() else size) + GiB  # the copy, the original, headroom
        if shutil.disk_usage(args.dir).free < need:
            print(f"\nskipping {format_size(size)}: {format_size(need)} of free disk needed in {args.dir}")
            continue
        make_file(data, size)
        torrent, info_raw, info_hash, piece = make_torrent(data)
        warm(data)
        if args.profile:
            prefix = ROOT / "bench" / "out" / f"profile-{size}"
            prefix.parent.mkdir(parents=True, exist_ok=True)
            run = run_pair("tt", data, info_raw, info_hash, args.dir / "transfer-run", args.timeout, rng, flags,
                           profile=prefix)
            print(f"\n### {format_size(size)}: torrentish -> torrentish under py-spy, {run.wall:.2f} s")
            for side in ("seed", "leech"):
                print(summarise_profile(Path(f"{prefix}-{side}.raw"), side))
            continue
        runs = []
        for round_ in range(args.repeat):
            for pair in pairs:  # interleaved, so drifting load hits every pair alike
                run = run_pair(pair, data, info_raw, info_hash, args.dir / "transfer-run", args.timeout, rng, flags)
                runs.append(run)
                print(f"  {format_size(size)} {pair_name(pair):<26} round {round_ + 1}: {run.wall:6.2f} s, "
                      f"CPU {run.leech_cpu:.2f} + {run.seed_cpu:.2f} s, RSS {format_size(run.leech_rss)} / "
                      f"{format_size(run.seed_rss)}", file=sys.stderr, flush=True)
        print()
        print(report(size, piece, pairs, runs), flush=True)
        results["sizes"].append({"size": size, "piece_length": piece, "torrent": str(torrent),
                                 "runs": [asdict(r) | {"leech_cpu": r.leech_cpu, "seed_cpu": r.seed_cpu,
                                                       "cpu_per_gib": r.cpu_per_gib} for r in runs],
                                 "medians": {p: asdict(median(runs, p)) for p in pairs}})
        results["load_at_end"] = os.getloadavg()[0]
        args.json.write_text(json.dumps(results, indent=2) + "\n")  # after each size: long runs
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}" + ("" if args.profile else f"; runs in {args.json}"))


if __name__ == "__main__":
    main()
