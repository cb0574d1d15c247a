"""The piece picker's cost per block: receive + pick + a HAVE from elsewhere, in one process.

    .venv/bin/python bench/bench_picker.py                 # the picker of this tree
    .venv/bin/python bench/bench_picker.py --against OLD.py  # and another version, side by side

Each case builds a picker, registers the peers' bitfields, then runs rounds in which every peer
keeps 10 requests out, one block per peer arrives per round, and one random peer gets a random
new piece (a HAVE). CPU time only (time.process_time), so the figure is blocks per CPU-second.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torrentish.core.bitfield import Bitfield  # noqa: E402
from torrentish.formats.geometry import BLOCK_SIZE, PieceGeometry  # noqa: E402

CASES = [  # (pieces, seeds, peers, share of the pieces each other peer holds)
    (3000, 5, 50, 0.5),
    (20000, 0, 50, 0.5),
    (20000, 1, 50, 0.02),
]
MAX_BLOCKS = 200_000


def load_picker(path: Path):
    spec = importlib.util.spec_from_file_location(f"picker_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.PiecePicker


def blocks_per_second(picker_class, pieces: int, seeds: int, peers: int, share: float) -> float:
    rng = random.Random(1)
    geometry = PieceGeometry(16 * BLOCK_SIZE, [pieces * 16 * BLOCK_SIZE])
    picker = picker_class(geometry, random.Random(2), "rarest")
    fields = []
    for k in range(peers):
        bits = Bitfield.full(pieces) if k < seeds else Bitfield(pieces)
        if k >= seeds:
            for index in rng.sample(range(pieces), int(pieces * share)):
                bits.add(index)
        picker.peer_bitfield(bits)
        fields.append(bits)
    queues: dict[int, list] = {k: [] for k in range(peers)}
    start, blocks = time.process_time(), 0
    while not picker.complete and blocks < MAX_BLOCKS:
        for k in range(peers):
            queue = queues[k]
            if len(queue) < 10:
                queue.extend(picker.pick(k, fields[k], 10 - len(queue)))
            if queue:
                block = queue.pop(0)
                picker.block_received(k, block)
                blocks += 1
                if picker.piece_downloaded(block.index):
                    picker.piece_verified(block.index)
                other, index = rng.randrange(seeds, peers), rng.randrange(pieces)
                if index not in fields[other]:
                    fields[other].add(index)
                    picker.peer_have(index)
    return blocks / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another picker.py to measure beside this one")
    args = parser.parse_args()
    pickers = {"this tree": load_picker(ROOT / "torrentish" / "core" / "picker.py")}
    if args.against:
        pickers[str(args.against)] = load_picker(args.against)
    print("| picker | " + " | ".join(f"{p} pieces, {s} seeds, {n} peers holding {h:.0%}"
                                      for p, s, n, h in CASES) + " |")
    print("|---|" + "---:|" * len(CASES))
    for name, picker_class in pickers.items():
        rates = [blocks_per_second(picker_class, *case) for case in CASES]
        print(f"| {name} | " + " | ".join(f"{r:,.0f} blocks/s" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
