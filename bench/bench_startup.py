"""Start-up time of the command line, and what the live view costs a transfer.

    .venv/bin/python bench/bench_startup.py                  # both parts
    .venv/bin/python bench/bench_startup.py --startup-only --runs 30
    .venv/bin/python bench/bench_startup.py --transfer-only --size 1GiB --repeat 5
    .venv/bin/python bench/bench_startup.py --first-bind --runs 15 [--baseline DIR]

Start-up: `torrentish --version`, `--help` and `get --help` run as child processes (the console
script, as a user runs it), after warm-up runs; the budget is 0.25 s each. Beside them, the bare
interpreter (`python -c pass`) and `python -c "import typer"`, the floor under any typer CLI.

Transfer: `torrentish demo --rate 0` (a seeder and a downloader in one process, so the view
competes with both for the one interpreter) with the live view on a pseudo-terminal at 80x24,
with plain lines (piped), with --json (read by this script) and with --quiet, interleaved, same
sample file (generated once in --workdir, kept in the page cache). Wall and CPU time of the
whole process, medians; the difference between the modes is what the views cost.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import resource
import select
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("torrentish")
BUDGET = 0.25


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORRENTISH_")}
    env["TORRENTISH_CONFIG"] = "/nonexistent/torrentish.toml"
    return env


def timed(argv: list[str], *, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=stdout, stderr=subprocess.DEVNULL, check=True, env=_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(runs: int) -> bool:
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
        ("torrentish --version", [str(SCRIPT), "--version"]),
        ("torrentish --help", [str(SCRIPT), "--help"]),
        ("torrentish get --help", [str(SCRIPT), "get", "--help"]),
    ]
    print(f"start-up, {runs} runs each after 3 warm-up runs (seconds)\n")
    print("| command | median | p90 | max | CPU median | within 0.25 s |")
    print("|---|---:|---:|---:|---:|---|")
    ok = True
    for label, argv in cases:
        for _ in range(3):
            timed(argv)
        samples = [timed(argv) for _ in range(runs)]
        walls = sorted(w for w, _ in samples)
        p90 = walls[min(len(walls) - 1, int(0.9 * len(walls)))]
        verdict = "-" if label.startswith("python") else ("yes" if p90 < BUDGET else "NO")
        ok &= verdict != "NO"
        print(f"| `{label}` | {statistics.median(walls):.3f} | {p90:.3f} | {walls[-1]:.3f} | "
              f"{statistics.median(c for _, c in samples):.3f} | {verdict} |")
    return ok


# Runs `python -m torrentish ARGS` and, at its first socket bind (the listener: the transfer
# starts), prints the process's CPU seconds so far and exits.
FIRST_BIND_PROBE = r"""
import os, resource, runpy, sys

def report(event, args):
    if event == "socket.bind":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        os.write(1, f"{usage.ru_utime + usage.ru_stime:.4f}\n".encode())
        os._exit(0)

sys.addaudithook(report)
sys.argv = ["torrentish", *sys.argv[1:]]
runpy.run_module("torrentish", run_name="__main__", alter_sys=True)
"""


def first_bind(runs: int, baseline: Path | None, workdir: Path) -> None:
    """CPU from process start to the first bind of `get` and `seed`, here and (interleaved) in
    another copy of the repository, each run from its own directory so its package is imported."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.support.data import make_single_file, make_torrent

    workdir.mkdir(parents=True, exist_ok=True)
    payload = make_single_file(workdir, "startup.bin", size=1 << 20)
    torrent = workdir / "startup.torrent"
    make_torrent(payload, torrent, piece_length=1 << 16)
    copies = {"this": ROOT, **({"baseline": baseline.resolve()} if baseline else {})}
    quiet = ["-q", "--no-lsd", "--no-port-mapping"]
    commands = {"get": ["get", str(torrent), "-o", "DOWN", "--peer", "127.0.0.1:1", *quiet],
                "seed": ["seed", str(torrent), "-d", str(workdir), *quiet]}
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):
        for command, argv in commands.items():
            for name, where in copies.items():
                with tempfile.TemporaryDirectory() as state:
                    args = [a.replace("DOWN", state + "/down") for a in argv]
                    env = dict(_env(), TORRENTISH_STATE_DIR=state)
                    out = subprocess.run([sys.executable, "-c", FIRST_BIND_PROBE, *args], cwd=where, env=env,
                                         capture_output=True, text=True, timeout=60)
                    samples.setdefault((command, name), []).append(float(out.stdout.split()[0]))
    print(f"CPU s from process start to the first bind, median of {runs} interleaved runs\n")
    print("| command | " + " | ".join(copies) + " |")
    print("|---|" + "---:|" * len(copies))
    for command in commands:
        cells = [f"{statistics.median(samples[(command, name)]):.3f}" for name in copies]
        print(f"| `{command}` | " + " | ".join(cells) + " |")


def run_on_pty(argv: list[str], cols: int = 80, rows: int = 24) -> tuple[float, float, int]:
    """Run with a pseudo-terminal as stdout/stderr (the live view), draining what it draws."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_env())
    os.close(slave)
    drawn = 0
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            drawn += len(chunk)
        elif child.poll() is not None:
            break
    child.wait()
    wall = time.perf_counter() - start
    os.close(master)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit(f"{argv} exited {child.returncode}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), drawn


def _transfer_seconds(log: Path) -> float:
    """From the first peer connection to "complete", by the log file's millisecond timestamps
    (every mode writes one, so the modes are compared on the transfer alone)."""
    from datetime import datetime

    def at(line: str) -> float:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    lines = log.read_text().splitlines()
    start = next(at(line) for line in lines if "connected to " in line)
    end = next(at(line) for line in lines if ": complete: " in line)
    return end - start


def transfer(size: str, repeat: int, workdir: Path) -> None:
    log = workdir / "bench.log"
    demo = [str(SCRIPT), "demo", "--size", size, "--rate", "0", "--workdir", str(workdir), "--log-file", str(log)]
    modes = {
        "live view (pty 80x24)": lambda: run_on_pty(demo),
        "plain lines (piped)": lambda: (*timed(demo, stdout=subprocess.PIPE), 0),
        "--json (piped)": lambda: (*timed([*demo, "--json"], stdout=subprocess.PIPE), 0),
        "--quiet": lambda: (*timed([*demo, "--quiet"]), 0),
    }
    print(f"\ntransfer: `torrentish demo --size {size} --rate 0`, {repeat} runs per mode, interleaved\n")
    workdir.mkdir(parents=True, exist_ok=True)
    timed([*demo, "--quiet"])  # makes the sample and warms the page cache
    samples: dict[str, list[tuple[float, float, int, float]]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        for mode, run in modes.items():
            log.unlink(missing_ok=True)
            samples[mode].append((*run(), _transfer_seconds(log)))
    size_mib = _size_mib(size)
    quiet = statistics.median(t for *_, t in samples["--quiet"])
    print("| mode | transfer s (median) | min | max | MiB/s (median) | vs --quiet | process wall s | process CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, runs in samples.items():
        transfer_times = [t for *_, t in runs]
        median = statistics.median(transfer_times)
        print(f"| {mode} | {median:.2f} | {min(transfer_times):.2f} | {max(transfer_times):.2f} | "
              f"{size_mib / median:.0f} | {median / quiet:.3f} | {statistics.median(w for w, *_ in runs):.2f} | "
              f"{statistics.median(c for _, c, *_ in runs):.2f} |")
    drawn = statistics.median(d for _, _, d, _ in samples["live view (pty 80x24)"])
    print(f"\nthe live view wrote {drawn / 1024:.0f} KiB to the terminal per run; "
          f"one --json run: {_json_rate(demo)}")


def _size_mib(size: str) -> float:
    sys.path.insert(0, str(ROOT))
    from torrentish.formats.units import parse_size

    return parse_size(size) / (1 << 20)


def _json_rate(demo: list[str]) -> str:
    out = subprocess.run([*demo, "--json"], capture_output=True, text=True, check=True, env=_env()).stdout
    records = [json.loads(line) for line in out.splitlines()]
    summary = records[-1]
    rate = summary["average_down_rate"] / (1 << 20)
    return (f"{len(records)} records, transfer {summary['elapsed']:.2f} s, {rate:.0f} MiB/s average, "
            f"{summary['events_dropped']} events dropped")


def frame_cost(frames: int = 200) -> None:
    """CPU time of one redraw of the live view (render + write to a terminal console), for a big
    torrent: 50 peers, 40 files, the table rows cut to the terminal's height."""
    import io

    from rich.console import Console

    from torrentish.engine.status import FileStatus, PeerStatus, TorrentStatus
    from torrentish.ui.ledger import Ledger
    from torrentish.ui.live import LiveDisplay

    mib = 1 << 20
    peers = tuple(PeerStatus((f"10.0.{i // 250}.{i % 250}", 6881 + i), "qBittorrent 4.6.2", "DU", 1e6 * (i + 1),
                             1e5 * i, 0.5, True, 10 * mib, mib) for i in range(50))
    files = tuple(FileStatus(f"album/{i:02d} - a track with a long name.flac", 30 * mib, 12 * mib * (i % 3), True)
                  for i in range(40))
    status = TorrentStatus("album", "downloading", 1200 * mib, 480 * mib, 11e6, 1e6, 500 * mib, 40 * mib, 0, 95.0,
                           peers, 10, 200, 3.4, files, "ab" * 20, 4800, 1920)

    class Watch:
        command = "get"
        ledger = Ledger()

    print("\nthe live view, one redraw (render + terminal output), in-process CPU time\n")
    print("| terminal | per frame | at 2 frames/s, share of one core | bytes written per frame |")
    print("|---|---:|---:|---:|")
    for width, height in ((80, 24), (200, 50)):
        out = io.StringIO()
        console = Console(file=out, width=width, height=height, force_terminal=True, color_system="truecolor")
        display = LiveDisplay(console)
        display.start(Watch, status)
        out.seek(0)
        out.truncate()
        start = time.process_time()
        for _ in range(frames):
            display.refresh(status, Watch.ledger)
        per_frame = (time.process_time() - start) / frames
        display.close(status, Watch.ledger)
        print(f"| {width}x{height} | {per_frame * 1000:.2f} ms | {per_frame * 2 * 100:.2f}% | "
              f"{len(out.getvalue().encode()) / frames / 1024:.1f} KiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="start-up runs per command")
    parser.add_argument("--size", default="512MiB", help="demo sample size")
    parser.add_argument("--repeat", type=int, default=3, help="demo runs per mode")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/torrentish-bench-demo"))
    parser.add_argument("--startup-only", action="store_true")
    parser.add_argument("--transfer-only", action="store_true")
    parser.add_argument("--first-bind", action="store_true", help="only: CPU from start to the first bind "
                        "of get and seed (with --baseline DIR, beside another copy of the repository)")
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    if args.first_bind:
        first_bind(args.runs, args.baseline, args.workdir)
        return
    if not SCRIPT.exists():
        raise SystemExit(f"{SCRIPT} not found: install the package into this interpreter (pip install -e .)")
    ok = True
    if not args.transfer_only:
        ok = startup(args.runs)
    if not args.startup_only:
        frame_cost()
        transfer(args.size, args.repeat, args.workdir)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
