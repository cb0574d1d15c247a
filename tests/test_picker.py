"""The piece picker: states written as short strings, one case per line.

``make("2213")`` builds a picker whose piece i is held by int(s[i]) registered peers. ``have``
marks verified pieces with '*', ``prio`` gives one priority digit per piece. Pieces are one block
long unless ``blocks`` says otherwise, so the order of picked blocks is the order pieces are opened.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torrentish.core.bitfield import Bitfield
from torrentish.formats.geometry import BLOCK_SIZE, PieceGeometry
from torrentish.core.picker import ENDGAME_MAX_REQUESTS, Block, PiecePicker


def make(avail: str, have: str = "", prio: str = "", *, strategy: str = "rarest", seed: int = 0,
         random_first: int = 0, blocks: int = 1) -> PiecePicker:
    n = len(avail)
    geometry = PieceGeometry(blocks * BLOCK_SIZE, [n * blocks * BLOCK_SIZE])
    picker = PiecePicker(geometry, random.Random(seed), strategy, random_first=random_first)
    for k in range(max(int(c) for c in avail)):
        picker.peer_bitfield(bits(n, [i for i, c in enumerate(avail) if int(c) > k]))
    for i, c in enumerate(have):
        if c == "*":
            picker.piece_verified(i)
    for i, c in enumerate(prio):
        picker.set_priority(i, int(c))
    return picker


def bits(n: int, indices) -> Bitfield:
    field = Bitfield(n)
    for i in indices:
        field.add(i)
    return field


def order(picker: PiecePicker, peer_bits: Bitfield | None = None, peer="me") -> list[int]:
    """Pieces in the order the picker opens them for one peer (one-block pieces)."""
    n = picker.geometry.num_pieces
    return [b.index for b in picker.pick(peer, peer_bits or Bitfield.full(n), n)]


def blk(index: int, number: int) -> Block:
    return Block(index, number * BLOCK_SIZE, BLOCK_SIZE)


# ------------------------------------------------------------------------------ rarest first
@pytest.mark.parametrize(
    "avail, prio, expected",
    [
        ("4132", "", [1, 3, 2, 0]),
        ("1111", "1302", [1, 3, 0]),  # priority beats rarity; 0 = skip
        ("9119", "2001", [0, 3]),
        ("3210", "", [3, 2, 1, 0]),  # a piece only a seed (or nobody registered) has is rarest
    ],
)
def test_rarest_first_order(avail, prio, expected):
    assert order(make(avail, prio=prio)) == expected


def test_only_pieces_the_peer_has_and_we_lack():
    picker = make("1234", have="*  ")
    assert order(picker, bits(4, [0, 1, 3])) == [1, 3]


def test_availability_follows_haves_bitfields_and_departures():
    picker = make("0000")
    peer = bits(4, [2])
    picker.peer_bitfield(peer)
    picker.peer_have(1)
    picker.peer_have(1)
    assert [picker.availability(i) for i in range(4)] == [0, 2, 1, 0]
    got = order(picker)
    assert sorted(got[:2]) == [0, 3] and got[2:] == [2, 1]
    picker = make("0000")
    picker.peer_bitfield(peer)
    picker.peer_lost(peer)
    picker.peer_have(0)
    assert [picker.availability(i) for i in range(4)] == [1, 0, 0, 0]
    assert order(picker)[-1] == 0


def test_seeds_are_one_counter_and_can_leave_after_growing_by_haves():
    picker = make("1000")
    picker.peer_bitfield(Bitfield.full(4))
    assert [picker.availability(i) for i in range(4)] == [2, 1, 1, 1]
    grown = bits(4, [])
    picker.peer_bitfield(grown)
    for i in range(4):  # a peer that completes through haves, counted piece by piece
        grown.add(i)
        picker.peer_have(i)
    picker.peer_lost(grown)  # full bitfield: the seed counter is taken back instead
    picker.peer_lost(Bitfield.full(4))  # the real seed: now counted piece by piece
    assert [picker.availability(i) for i in range(4)] == [1, 0, 0, 0]
    assert order(picker)[-1] == 0


def test_ties_are_broken_by_the_rng_reproducibly():
    orders = {seed: order(make("1" * 12, seed=seed)) for seed in range(5)}
    assert all(sorted(o) == list(range(12)) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1
    assert order(make("1" * 12, seed=3)) == orders[3]


def test_random_first_then_rarest():
    leecher = bits(11, range(10))  # not a seed: lacks piece 10, which nobody has
    firsts = {order(make("9" * 9 + "10", seed=s, random_first=2), leecher)[0] for s in range(30)}
    assert len(firsts) > 3  # rarity ignored while nothing is complete
    # ... but not when picking from a seed: its rarest pieces are the ones new to the swarm.
    assert {order(make("9" * 9 + "10", seed=s, random_first=2))[0] for s in range(10)} == {10}
    assert {order(make("9" * 9 + "1", seed=s))[0] for s in range(10)} == {9}
    picker = make("9" * 9 + "1", have="**", random_first=2)
    assert order(picker)[0] == 9


def test_sequential_takes_lowest_index_first_within_priority():
    assert order(make("3121", strategy="sequential")) == [0, 1, 2, 3]
    assert order(make("3121", prio="1121", strategy="sequential")) == [2, 0, 1, 3]


def test_switching_to_sequential_and_back_keeps_open_pieces_and_requests():
    picker = make("3123", blocks=2)
    first = picker.pick("a", Bitfield.full(4), 1)
    assert first == [blk(1, 0)]  # rarest
    picker.set_strategy("sequential")
    assert picker.strategy == "sequential"
    assert [b.index for b in picker.pick("b", Bitfield.full(4), 5)] == [1, 0, 0, 2, 2]
    assert picker.requests("a") == first
    picker.set_strategy("rarest")
    assert [b.index for b in picker.pick("c", Bitfield.full(4), 2)] == [3, 3]
    with pytest.raises(ValueError):
        picker.set_strategy("fastest")


def test_random_strategy_ignores_rarity_but_not_priority():
    firsts = {order(make("9" * 9 + "1", seed=s, strategy="random"))[0] for s in range(30)}
    assert len(firsts) > 3
    assert order(make("1111", prio="1211", strategy="random", seed=5))[0] == 1


# ------------------------------------------------------------------------ partial pieces
def test_partial_pieces_are_finished_first():
    picker = make("2222", blocks=4)
    a = picker.pick("a", bits(4, [0, 1, 2]), 2)
    piece = a[0].index
    assert [b.begin for b in a] == [0, BLOCK_SIZE] and piece != 3
    b = picker.pick("b", Bitfield.full(4), 3)
    assert b[:2] == [blk(piece, 2), blk(piece, 3)]  # as rare as any new piece: finished first
    assert b[2].index != piece
    assert picker.open_pieces == 2


def test_a_rarer_new_piece_goes_before_a_partial_one():
    # Piece 3 only the seed has: the seed is asked for it before it is asked to finish the
    # partial piece a leecher also offers (so a slow seed's upload goes to new pieces).
    picker = make("2221", blocks=4)
    a = picker.pick("a", bits(4, [0, 1, 2]), 2)
    piece = a[0].index
    b = picker.pick("b", Bitfield.full(4), 6)
    assert b[:4] == [blk(3, n) for n in range(4)]
    assert b[4:] == [blk(piece, 2), blk(piece, 3)]  # then the partial one, before other new ones
    assert picker.open_pieces == 2
    # With no room for another open piece the partial one is all there is.
    picker = make("2221", blocks=4)
    picker.max_open = 1
    a = picker.pick("a", bits(4, [0, 1, 2]), 2)
    assert picker.pick("b", Bitfield.full(4), 6) == [blk(a[0].index, 2), blk(a[0].index, 3)]


def test_from_a_peer_that_is_not_a_seed_partial_pieces_still_go_first():
    # Comparing rarities would take a walk of the buckets on every pick; only seeds (whose best
    # new piece is the first bucket) get the rarity rule.
    picker = make("22210", blocks=4)
    a = picker.pick("a", bits(5, [0, 1, 2]), 2)
    b = picker.pick("b", bits(5, [0, 1, 2, 3]), 3)
    assert b[:2] == [blk(a[0].index, 2), blk(a[0].index, 3)]
    assert b[2] == blk(3, 0)  # then the rarest


def test_random_strategy_finishes_partial_pieces_first_whatever_their_rarity():
    picker = make("2221", blocks=4, strategy="random", seed=1)
    a = picker.pick("a", bits(4, [0, 1, 2]), 2)
    b = picker.pick("b", Bitfield.full(4), 2)
    assert b == [blk(a[0].index, 2), blk(a[0].index, 3)]


def test_open_pieces_are_bounded():
    picker = make("11111", blocks=4)
    picker.max_open = 2
    got = picker.pick("a", Bitfield.full(5), 100)
    assert len(got) == 8 and picker.open_pieces == 2
    assert picker.pick("b", Bitfield.full(5), 100) == [] and not picker.endgame
    for block in got[:4]:
        picker.block_received("a", block)
    picker.piece_verified(got[0].index)
    assert len(picker.pick("b", Bitfield.full(5), 100)) == 4 and picker.open_pieces == 2


def test_skipped_pieces_are_never_requested_and_complete_ignores_them():
    picker = make("1111", prio="0101")
    assert picker.wanted_remaining == 2
    assert sorted(order(picker)) == [1, 3]
    assert not picker.interesting(bits(4, [0, 2]))
    assert picker.interesting(bits(4, [3]))
    picker.piece_verified(1)
    picker.piece_verified(3)
    assert picker.complete and picker.pick("a", Bitfield.full(4), 5) == []
    assert not picker.interesting(Bitfield.full(4))


def test_deselecting_an_open_piece_stops_its_requests_until_reselected():
    picker = make("11", blocks=4)
    got = picker.pick("a", bits(2, [0]), 2)
    picker.set_priority(0, 0)
    assert picker.pick("b", bits(2, [0]), 4) == [] and picker.wanted_remaining == 1
    picker.peer_gone("a")  # its piece is empty again, and skipped: never handed out
    assert picker.pick("b", Bitfield.full(2), 8) == [blk(1, n) for n in range(4)]
    picker.set_priority(0, 3)
    assert picker.pick("b", Bitfield.full(2), 2) == got


def test_file_priorities_map_to_pieces():
    geometry = PieceGeometry(BLOCK_SIZE, [BLOCK_SIZE + 10, 0, 2 * BLOCK_SIZE])
    picker = PiecePicker(geometry, random.Random(0))
    picker.set_file_priorities([0, 7, 1])  # piece 1 holds bytes of files 0 and 2
    assert [picker.wanted(i) for i in range(4)] == [False, True, True, True]
    assert sorted(order(picker)) == [1, 2, 3] and picker.wanted_remaining == 3


# ----------------------------------------------------------------------- request states
def test_never_the_same_block_twice_to_a_peer_nor_a_received_one():
    picker = make("1", blocks=4)
    first = picker.pick("a", Bitfield.full(1), 2)
    picker.block_received("a", first[0])
    again = picker.pick("a", Bitfield.full(1), 10)
    assert again == [blk(0, 2), blk(0, 3)]
    assert picker.requests("a") == [first[1], *again]
    assert picker.endgame and picker.pick("a", Bitfield.full(1), 10) == []


def test_allowed_fast_restricts_pieces():
    picker = make("1111", blocks=2)
    picker.pick("a", bits(4, [0]), 1)  # piece 0 is open and partial
    got = picker.pick("b", Bitfield.full(4), 10, allowed={2, 99})
    assert {b.index for b in got} == {2}


def test_abandoned_blocks_go_back_and_empty_pieces_close():
    picker = make("1", blocks=4)
    got = picker.pick("a", Bitfield.full(1), 3)
    picker.block_abandoned("a", got[1])
    picker.block_abandoned("a", got[1])  # twice, or never requested: no effect
    picker.block_abandoned("z", got[0])
    assert picker.pick("b", Bitfield.full(1), 2) == [got[1], blk(0, 3)]
    picker.peer_gone("a")
    picker.peer_gone("b")
    assert picker.open_pieces == 0 and picker.requests("a") == []
    assert picker.pick("c", Bitfield.full(1), 1) == [blk(0, 0)]


def test_failed_piece_is_requested_again_even_from_the_same_peer():
    picker = make("1", blocks=2)
    got = picker.pick("a", Bitfield.full(1), 2)
    for block in got:
        assert not picker.piece_downloaded(0)
        picker.block_received("a", block)
    assert picker.piece_downloaded(0)
    picker.piece_failed(0)
    assert picker.pick("a", Bitfield.full(1), 2) == got


def test_unknown_or_unsolicited_blocks_are_ignored():
    """Only a block the peer was asked for counts: a pushed block could poison a piece."""
    picker = make("11", blocks=2)
    first = picker.pick("a", bits(2, [0]), 1)
    for block in [Block(1, 0, BLOCK_SIZE), Block(0, 5, 10), Block(0, -BLOCK_SIZE, BLOCK_SIZE),
                  Block(7, 0, 1), Block(0, BLOCK_SIZE, 3), blk(0, 1)]:
        assert picker.block_arrived("x", *block) is None
        assert picker.block_arrived("a", *block) is None  # a's request is another block
    assert picker.block_arrived("a", 0, 0, BLOCK_SIZE - 1) is None  # the wrong length
    assert picker.requests("a") == first and not picker.piece_downloaded(0)
    assert picker.pick("b", bits(2, [0]), 5) == [blk(0, 1)]  # the pushed block is still free
    assert picker.block_arrived("a", *first[0]) == ()
    assert picker.block_arrived("a", *first[0]) is None  # twice: no longer requested
    assert picker.outstanding("a") == 0 and picker.outstanding("b") == 1


# ------------------------------------------------------------------------------- endgame
def test_endgame_hands_out_bounded_duplicates_and_cancels_them():
    picker = make("1", blocks=2)
    full = Bitfield.full(1)
    a = picker.pick("a", full, 2)
    assert picker.endgame
    b = picker.pick("b", full, 1)
    c = picker.pick("c", full, 2)
    assert b == [a[0]] and c == [a[1], a[0]]  # least-duplicated first
    assert len(picker.pick("d", full, 5)) == 2 * ENDGAME_MAX_REQUESTS - 5
    assert picker.pick("d", full, 5) == []
    assert picker.block_received("b", a[0]) == ["a", "c"]
    assert picker.requests("a") == [a[1]] and picker.requests("c") == [a[1]]
    assert picker.block_received("a", a[0]) == []  # the late duplicate
    picker.block_abandoned("a", a[1])  # others still have it requested: not free
    assert picker.pick("e", full, 5) == [a[1]]


def test_no_endgame_while_unopened_wanted_pieces_remain():
    picker = make("11", blocks=1)
    picker.pick("a", bits(2, [0]), 1)
    assert not picker.endgame and picker.pick("b", bits(2, [0]), 1) == []


# ---------------------------------------------------------------- randomized simulation
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    num_pieces=st.integers(1, 12),
    blocks=st.integers(1, 3),
    priorities=st.lists(st.integers(0, 2), min_size=12, max_size=12),
    seed=st.integers(0, 2**32),
    strategy=st.sampled_from(["rarest", "random", "sequential"]),
)
def test_simulated_swarm_keeps_invariants_and_completes(num_pieces, blocks, priorities, seed,
                                                        strategy):
    rng = random.Random(seed)
    size = num_pieces * blocks * BLOCK_SIZE - rng.randrange(BLOCK_SIZE)  # short last block
    geometry = PieceGeometry(blocks * BLOCK_SIZE, [size])
    picker = PiecePicker(geometry, random.Random(seed), strategy, random_first=2)
    picker.max_open = rng.choice([1, 3, 100])
    prio = list(priorities[:num_pieces])
    for i, p in enumerate(prio):
        picker.set_priority(i, p)
    peers: dict[str, Bitfield] = {}
    outstanding: dict[str, set[Block]] = {}
    received: dict[int, set[Block]] = {i: set() for i in range(num_pieces)}
    verified: set[int] = set()

    def join(name: str, field: Bitfield) -> None:
        peers[name] = field
        outstanding[name] = set()
        picker.peer_bitfield(field)

    join("seed", Bitfield.full(num_pieces))
    for k in range(3):
        join(f"p{k}", bits(num_pieces, [i for i in range(num_pieces) if rng.random() < 0.5]))

    for step in range(2000):
        if picker.complete:
            break
        name = rng.choice(sorted(peers))
        action = rng.random()
        if action < 0.45:
            for block in picker.pick(name, peers[name], rng.randint(1, 4)):
                assert prio[block.index] > 0 and block.index not in verified
                assert block.index in peers[name]
                assert block not in outstanding[name], "requested twice from one peer"
                assert block not in received[block.index], "received block requested again"
                outstanding[name].add(block)
        elif action < 0.85 and outstanding[name]:
            block = rng.choice(sorted(outstanding[name]))
            outstanding[name].discard(block)
            for other in picker.block_received(name, block):
                outstanding[other].discard(block)
            received[block.index].add(block)
            if picker.piece_downloaded(block.index):
                if rng.random() < 0.1:
                    picker.piece_failed(block.index)
                    received[block.index].clear()
                else:
                    picker.piece_verified(block.index)
                    verified.add(block.index)
        elif action < 0.92 and outstanding[name]:
            block = rng.choice(sorted(outstanding[name]))
            outstanding[name].discard(block)
            picker.block_abandoned(name, block)
        elif action < 0.94:  # the user changes file selection mid-download
            index, value = rng.randrange(num_pieces), rng.choice([0, 1, 2])
            prio[index] = value
            picker.set_priority(index, value)
        elif action < 0.95:  # the user switches sequential on or off mid-download
            picker.set_strategy(rng.choice(["rarest", "random", "sequential"]))
        elif action < 0.97 and name != "seed":
            picker.peer_gone(name)
            picker.peer_lost(peers.pop(name))
            del outstanding[name]
            join(name + "'", bits(num_pieces, [i for i in range(num_pieces) if rng.random() < 0.5]))
        for peer in peers:
            assert set(picker.requests(peer)) == outstanding[peer]
    assert picker.complete, f"stuck: {picker.wanted_remaining} wanted pieces left"
    assert {i for i in range(num_pieces) if prio[i] > 0} <= verified
