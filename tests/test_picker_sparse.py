"""The picker's two ways of finding candidate pieces give the same picks.

PiecePicker._candidates switches from walking our pieces to the peer's own pieces, sorted into
the walk's order, once the walk has tested SPARSE_PEER times as many pieces as the peer has
(core/picker.py). Driving the same random swarm with the switch made at once, part of the way
through and never must give the same requests, block by block, for every strategy, the random
first phase included.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torrentish.core import picker as picker_module
from torrentish.core.bitfield import Bitfield
from torrentish.core.picker import PiecePicker
from torrentish.formats.geometry import BLOCK_SIZE, PieceGeometry

NEVER_SPARSE = 10**9


def _field(n: int, rng: random.Random, density: float) -> Bitfield:
    field = Bitfield(n)
    for i in range(n):
        if rng.random() < density:
            field.add(i)
    return field


def _trace(sparse: int, num_pieces: int, seed: int, strategy: str) -> list:
    """Every pick of a random swarm run, with SPARSE_PEER set to ``sparse``."""
    rng = random.Random(seed)
    geometry = PieceGeometry(2 * BLOCK_SIZE, [num_pieces * 2 * BLOCK_SIZE])
    trace = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(picker_module, "SPARSE_PEER", sparse)
        picker = PiecePicker(geometry, random.Random(seed), strategy, random_first=2)
        picker.max_open = rng.choice([2, 5, 100])
        for i in range(num_pieces):
            if rng.random() < 0.1:
                picker.set_priority(i, rng.choice([0, 2]))
        peers = {"seed": Bitfield.full(num_pieces)}
        for k in range(4):
            peers[f"p{k}"] = _field(num_pieces, rng, rng.choice([0.05, 0.3, 0.8]))
        for field in peers.values():
            picker.peer_bitfield(field)
        for _ in range(400):
            if picker.complete:
                break
            name = rng.choice(sorted(peers))
            action = rng.random()
            if action < 0.5:
                trace.append((name, picker.pick(name, peers[name], rng.randint(1, 6))))
            elif action < 0.85 and picker.requests(name):
                block = rng.choice(picker.requests(name))
                picker.block_received(name, block)
                if picker.piece_downloaded(block.index):
                    picker.piece_verified(block.index)
            elif action < 0.92 and picker.requests(name):
                picker.block_abandoned(name, rng.choice(picker.requests(name)))
            elif name != "seed":  # the peer gets a piece
                index = rng.randrange(num_pieces)
                if index not in peers[name]:
                    peers[name].add(index)
                    picker.peer_have(index)
    return trace


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(num_pieces=st.integers(2, 40), seed=st.integers(0, 2**32),
       strategy=st.sampled_from(["rarest", "random", "sequential"]))
def test_candidates_from_the_peers_pieces_are_the_walks(num_pieces, seed, strategy):
    walked = _trace(NEVER_SPARSE, num_pieces, seed, strategy)
    for sparse in (0, 1):  # switch at once, or part of the way through
        assert _trace(sparse, num_pieces, seed, strategy) == walked
