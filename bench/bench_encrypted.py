"""Benchmark: one file over 127.0.0.1 with Message Stream Encryption, torrentish against libtorrent.

    .venv/bin/python bench/bench_encrypted.py [--dir DIR] [--size 1GiB] [--repeat 3]
        [--configs "tt rc4,ll rc4,tt plaintext,ll plaintext"] [--json bench/out/encrypted.json]

Four configurations, interleaved, --repeat times each, seed and leecher in separate processes
(bench_transfer.py's machinery: same data file, torrent, GNU time, CPU from /proc):

    torrentish RC4        torrentish seed/get --encryption require (RC4 both ways)
    libtorrent RC4        libtorrent both sides forcing RC4 (in/out_enc_policy forced,
                          allowed_enc_level rc4, prefer_rc4), TCP only
    torrentish plaintext  --encryption off, for what RC4 costs
    libtorrent plaintext  in/out_enc_policy disabled

Both sides of each pair run the same policy, so a completed transfer under "RC4" was RC4 on the
wire (neither side accepts anything else). Figures: wall time from the leecher's start to its
exit, CPU seconds of the leecher (whole process) and of the seed during the transfer, their sum
per GiB, peak RSS; tables show medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_transfer as bt  # noqa: E402

from torrentish.formats.units import format_size, parse_size  # noqa: E402

# libtorrent's settings_pack: enc_policy forced = 0, disabled = 2; enc_level rc4 = 2.
LT_POLICIES = {
    "rc4": '"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2, "prefer_rc4": True,',
    "plaintext": '"out_enc_policy": 2, "in_enc_policy": 2,',
}
OUR_POLICIES = {"rc4": "require", "plaintext": "off"}
CONFIGS = ("tt rc4", "ll rc4", "tt plaintext", "ll plaintext")  # the reference row first after ours
_LT_ANCHOR = '"enable_outgoing_utp": False,'
ORIGINAL_LT_SCRIPT = bt.LT_SCRIPT


def lt_script(policy: str) -> str:
    """bench_transfer's libtorrent peer with an encryption policy added to its settings."""
    assert _LT_ANCHOR in bt.LT_SCRIPT, "bench_transfer.LT_SCRIPT changed: update the anchor"
    return bt.LT_SCRIPT.replace(_LT_ANCHOR, f"{_LT_ANCHOR} {LT_POLICIES[policy]}", 1)


def run_config(config: str, data: Path, info_raw: bytes, info_hash: bytes, work: Path, timeout: float,
               rng: random.Random, quiet: tuple[list[str], list[str]]) -> bt.Run:
    pair, policy = config.split()
    if pair == "ll":
        bt.LT_SCRIPT = lt_script(policy)  # start_seed/start_leech read the module's script
        try:
            return bt.run_pair("ll", data, info_raw, info_hash, work, timeout, rng)
        finally:
            bt.LT_SCRIPT = ORIGINAL_LT_SCRIPT
    ours = ["--encryption", OUR_POLICIES[policy]]
    return bt.run_pair("tt", data, info_raw, info_hash, work, timeout, rng, (quiet[0] + ours, quiet[1] + ours))


def report(size: int, piece: int, runs: dict[str, list[bt.Run]]) -> str:
    medians = {c: bt.median(r, r[0].pair) for c, r in runs.items()}
    base = medians["ll rc4"]
    lines = [
        f"### {format_size(size)} file, piece length {format_size(piece)}",
        "",
        "| seed -> leecher, both sides | wall s | MiB/s | leecher CPU s (user+sys) | seed CPU s in transfer "
        "(user+sys) | CPU s/GiB | leecher RSS | seed RSS | wall / libtorrent RC4 | CPU / libtorrent RC4 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config, m in medians.items():
        name = ("torrentish" if config.startswith("tt") else "libtorrent") + (
            " RC4" if config.endswith("rc4") else " plaintext")
        lines.append(
            f"| {name} | {m.wall:.2f} | {size / m.wall / 2**20:.0f} "
            f"| {m.leech_cpu:.2f} ({m.leech_user:.2f}+{m.leech_sys:.2f}) "
            f"| {m.seed_cpu:.2f} ({m.seed_user:.2f}+{m.seed_sys:.2f}) | {m.cpu_per_gib:.2f} "
            f"| {format_size(m.leech_rss)} | {format_size(m.seed_rss)} "
            f"| {m.wall / base.wall:.2f} | {m.cpu_per_gib / base.cpu_per_gib:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "torrentish-bench",
                        help="where the data file is made (or reused: bench_transfer's)")
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per download")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "encrypted.json")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, of: {', '.join(CONFIGS)} (the report needs 'll rc4')")
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not set(configs) <= set(CONFIGS) or "ll rc4" not in configs:
        parser.error(f"--configs: some of {', '.join(CONFIGS)}, with 'll rc4'")
    if not Path(bt.GNU_TIME).exists():
        raise SystemExit("needs GNU time (/usr/bin/time)")
    size = parse_size(args.size)
    machine, data, torrent, info_raw, info_hash, piece = bt.prepare(args.dir, size)
    quiet = (bt.quiet_discovery_flags("seed"), bt.quiet_discovery_flags("get"))
    rng = random.Random(1)
    runs: dict[str, list[bt.Run]] = {c: [] for c in configs}
    for round_ in range(args.repeat):
        for config in configs:  # interleaved, so drifting load hits every configuration alike
            run = run_config(config, data, info_raw, info_hash, args.dir / "encrypted-run", args.timeout, rng, quiet)
            runs[config].append(run)
            print(f"  {config:<13} round {round_ + 1}: {run.wall:6.2f} s, CPU {run.leech_cpu:.2f} + "
                  f"{run.seed_cpu:.2f} s", file=sys.stderr, flush=True)
    print()
    print(report(size, piece, runs), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": machine, "command": sys.argv, "size": size, "piece_length": piece, "torrent": str(torrent),
        "runs": {c: [asdict(r) for r in rs] for c, rs in runs.items()},
        "load_at_end": os.getloadavg()[0]}, indent=2) + "\n")
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}; runs in {args.json}")
    shutil.rmtree(args.dir / "encrypted-run", ignore_errors=True)


if __name__ == "__main__":
    main()
