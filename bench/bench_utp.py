"""Benchmark: one file over uTP on 127.0.0.1, torrentish <-> torrentish beside libtorrent <-> libtorrent.

    .venv/bin/python bench/bench_utp.py [--size 1GiB] [--repeat 3] [--tcp] [--json bench/out/utp.json]

The setup is bench_transfer.py's (same data file, torrent, separate seed and leecher processes
under GNU time, the runs interleaved, medians), with both sides on uTP:

    tt  torrentish -> torrentish over uTP: the leecher runs ``get --transport utp`` (it dials uTP
        only); the seed ``seed --transport both`` (it listens on both: the benchmark's readiness
        check looks for its TCP listener, and the only connection it gets is the leecher's uTP)
    ll  libtorrent -> libtorrent over uTP (``enable_outgoing_tcp`` / ``enable_incoming_tcp`` off)
    tT  (--tcp) torrentish -> torrentish over TCP, for context

Measured: wall time from the leecher's start to its exit, CPU seconds (user + system) of the
leecher's whole process and of the seed during the transfer, peak RSS of each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_transfer as bt  # noqa: E402

from torrentish.formats.units import format_size, parse_size  # noqa: E402

# libtorrent with TCP off both ways: what it connects over is uTP.
bt.LT_SCRIPT = bt.LT_SCRIPT.replace('"enable_outgoing_utp": False, "enable_incoming_utp": False',
                                    '"enable_outgoing_tcp": False, "enable_incoming_tcp": False')
assert "enable_outgoing_tcp" in bt.LT_SCRIPT

LABELS = {"tt": "torrentish -> torrentish, uTP", "ll": "libtorrent -> libtorrent, uTP",
          "tT": "torrentish -> torrentish, TCP"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tcp", action="store_true", help="add torrentish -> torrentish over TCP")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path, default=bt.ROOT / "bench" / "out" / "utp.json")
    args = parser.parse_args()
    size = parse_size(args.size)
    machine, data, _, info_raw, info_hash, piece = bt.prepare(args.dir, size)
    quiet = (bt.quiet_discovery_flags("seed"), bt.quiet_discovery_flags("get"))
    flags = {"tt": (quiet[0] + ["--transport", "both"], quiet[1] + ["--transport", "utp"]),
             "ll": quiet, "tT": (quiet[0] + ["--transport", "tcp"], quiet[1] + ["--transport", "tcp"])}
    pairs = ["tt", "ll"] + (["tT"] if args.tcp else [])
    rng = random.Random(1)
    runs = []
    for round_ in range(args.repeat):
        for pair in pairs:
            kinds = pair.lower()
            run = bt.run_pair(kinds, data, info_raw, info_hash, args.dir / "utp-run", args.timeout, rng, flags[pair])
            run.pair = pair
            runs.append(run)
            print(f"  {LABELS[pair]:<32} round {round_ + 1}: {run.wall:6.2f} s, CPU {run.leech_cpu:.2f} + "
                  f"{run.seed_cpu:.2f} s, RSS {format_size(run.leech_rss)} / {format_size(run.seed_rss)}",
                  file=sys.stderr, flush=True)
    medians = {p: bt.median(runs, p) for p in pairs}
    base = medians["ll"]
    print(f"\n### {format_size(size)} over uTP, piece length {format_size(piece)}\n")
    print("| seed -> leecher | wall s | MiB/s | leecher CPU s | seed CPU s in transfer | CPU s/GiB "
          "| leecher RSS | seed RSS | wall / libtorrent | CPU / libtorrent |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pair, m in medians.items():
        print(f"| {LABELS[pair]} | {m.wall:.2f} | {size / m.wall / 2**20:.1f} | {m.leech_cpu:.2f} | {m.seed_cpu:.2f} "
              f"| {m.cpu_per_gib:.2f} | {format_size(m.leech_rss)} | {format_size(m.seed_rss)} "
              f"| {m.wall / base.wall:.2f} | {m.cpu_per_gib / base.cpu_per_gib:.2f} |")
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "command": sys.argv, "load_at_end": os.getloadavg()[0],
                                     "runs": [asdict(r) for r in runs],
                                     "medians": {p: asdict(m) for p, m in medians.items()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
