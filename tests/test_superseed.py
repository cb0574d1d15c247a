"""BEP 16 super-seeding decisions (torrentish.core.superseed): which piece goes to whom, and when."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.core.superseed import SuperSeed


def seeder(num_pieces: int = 16, **kwargs) -> SuperSeed:
    return SuperSeed(num_pieces, random.Random(1), **kwargs)


def pieces_of(reveals, peer) -> list[int]:
    return [index for who, index in reveals if who == peer]


def test_a_peer_is_shown_nothing_until_we_serve_it():
    s = seeder()
    s.add_peer("a")
    assert s.peer_pieces("a", []) == []
    assert s.wants("a") and not s.may_serve("a", 0)
    assert s.revealed("a") == set()


def test_served_peers_are_given_different_pieces_nobody_has():
    s = seeder(16)
    for peer in "abc":
        s.peer_pieces(peer, [])
    s.peer_pieces("d", [0, 1, 2, 3])  # held pieces are not rarest: they come last
    shown = [pieces_of(s.start_serving(peer), peer) for peer in "abc"]
    assert all(len(p) == 2 for p in shown)
    every = [i for p in shown for i in p]
    assert len(set(every)) == 6 and not set(every) & {0, 1, 2, 3}
    assert all(s.may_serve(peer, i) for peer, p in zip("abc", shown) for i in p)
    assert not s.may_serve("a", shown[1][0])  # shown to b, not to a


def test_a_turn_is_per_peer_pieces_and_the_next_peer_is_let_in_once_all_are_asked_for():
    s = SuperSeed(8, random.Random(1), per_peer=2, blocks_in=lambda index: 2)
    s.peer_pieces("a", [])
    first = pieces_of(s.start_serving("a"), "a")
    assert len(first) == 2 and s.finishing() == [] and s.finished_turns() == []
    for index in first:
        assert s.request("a", index, 0)
    assert not s.request("a", 7 if 7 not in first else 6, 0)  # not shown to a
    s.request("a", first[0], 16384)
    s.request("a", first[0], 16384)  # asked twice: still one block
    assert s.finishing() == []
    assert s.peer_have("a", first[0]) == []  # no more pieces this turn
    assert s.finishing() == []
    s.request("a", first[1], 16384)
    assert s.finishing() == ["a"]  # every block asked for: time to let the next peer in
    s.handed_over("a")
    assert s.finishing() == []
    s.peer_have("a", first[1])
    assert s.finished_turns() == [("a", True)]
    again = pieces_of(s.new_turn("a"), "a")  # nobody else waits: another turn
    assert len(again) == 2 and not set(again) & set(first)
    assert s.finished_turns() == [] and s.finishing() == []


def test_the_peer_waiting_longest_is_served_next():
    s = seeder(16)
    for peer in "abcd":
        s.peer_pieces(peer, [])
    s.start_serving("b")
    s.start_serving("a")
    s.stop_serving("b")
    s.stop_serving("a")
    assert s.next_to_serve("abcd") == "c"  # never served, first in line
    s.start_serving("c")
    assert s.next_to_serve("abd") == "d"
    s.start_serving("d")
    assert s.next_to_serve("ab") == "b"  # served longest ago
    s.peer_pieces("b", range(16))
    assert s.next_to_serve("ab") == "a"  # b lacks nothing


def test_a_served_peer_that_fetches_nothing_is_stalled_at_the_second_look():
    s = seeder(8, per_peer=1)
    s.peer_pieces("a", [])
    s.peer_pieces("b", [])
    s.start_serving("a")
    assert s.stalled() == []  # just served: not judged yet
    s.start_serving("b")
    (piece,) = s.assigned("b")
    s.peer_have("b", piece)
    assert s.stalled() == ["a"]


def test_strict_mode_waits_until_another_peer_has_the_piece():
    s = seeder(8, per_peer=1, strict=True)
    s.peer_pieces("a", [])
    s.peer_pieces("b", [])
    (piece,) = pieces_of(s.start_serving("a"), "a")
    assert s.peer_have("a", piece) == [] and s.finished_turns() == []  # it has not spread yet
    s.peer_have("b", piece)  # b got it from a
    assert s.finished_turns() == [("a", False)] and s.assigned("a") == []


def test_choking_a_peer_frees_its_pieces_for_others():
    s = seeder(2, per_peer=2)
    s.peer_pieces("a", [])
    s.peer_pieces("b", [])
    given_a = pieces_of(s.start_serving("a"), "a")
    assert sorted(given_a) == [0, 1]
    assert s.start_serving("b") == []  # everything is being fetched by a
    freed = s.stop_serving("a")
    assert sorted(pieces_of(freed, "b")) == [0, 1]
    assert s.may_serve("a", 0)  # what a was shown stays requestable: it cannot be taken back


def test_a_peer_leaving_frees_its_pieces():
    s = seeder(2, per_peer=2)
    s.peer_pieces("a", [])
    s.peer_pieces("b", [])
    s.start_serving("a")
    s.start_serving("b")
    assert sorted(pieces_of(s.remove_peer("a"), "b")) == [0, 1]
    assert s.remove_peer("a") == []


def test_rarest_first_among_pieces_others_hold():
    s = seeder(4, per_peer=1)
    s.peer_pieces("x", [0, 1])
    s.peer_pieces("y", [0])
    s.peer_pieces("a", [3])
    s.peer_pieces("b", [])
    assert pieces_of(s.start_serving("b"), "b") == [2]  # the one nobody has
    assert pieces_of(s.start_serving("a"), "a") == [1]  # 2 is b's; of the rest, 1 is rarest


def test_fall_back_reveals_everything_once_the_peers_hold_the_whole_file():
    s = seeder(4, per_peer=1)
    s.peer_pieces("a", [])
    s.peer_pieces("b", [0])
    s.start_serving("a")
    s.peer_have("a", 1)
    s.peer_have("b", 2)
    assert s.active
    shown_to_a = s.revealed("a")
    reveals = s.peer_have("a", 3)  # now 0-3 are all out there
    assert not s.active
    assert sorted(pieces_of(reveals, "a")) == sorted({0, 2} - shown_to_a)
    assert sorted(pieces_of(reveals, "b")) == [1, 3]
    assert s.may_serve("b", 1) and s.may_serve("a", 0)
    assert s.start_serving("b") == [] and s.peer_have("b", 1) == []


def test_out_of_range_indices_are_ignored():
    s = seeder(4)
    assert s.peer_pieces("a", [-1, 4, 99]) == []
    assert s.peer_have("a", 7) == [] and s.peer_have("a", -1) == []
    assert s.wants("a")


# ------------------------------------------------------------------- the state machine
PEERS = "abcde"
events = st.lists(
    st.tuples(
        st.sampled_from(["pieces", "have", "serve", "stop", "remove", "turn", "handover", "stalled",
                         "request"]),
        st.sampled_from(PEERS),
        st.lists(st.integers(-1, 9), max_size=6),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(events, st.booleans(), st.integers(1, 3))
def test_any_sequence_of_events_keeps_the_promises(sequence, strict, per_peer):
    """Reveals are new to the peer and missing there; no two served peers fetch the same piece
    while super-seeding; the counts stay consistent; may_serve matches what was revealed."""
    n = 8
    s = SuperSeed(n, random.Random(0), per_peer=per_peer, strict=strict)
    held: dict[str, set[int]] = {}
    revealed: dict[str, set[int]] = {}
    served: set[str] = set()
    for kind, peer, numbers in sequence:
        before_active = s.active
        if kind == "pieces":
            out = s.peer_pieces(peer, numbers)
            held[peer] = {i for i in numbers if 0 <= i < n}
            revealed.setdefault(peer, set())
        elif kind == "have":
            index = numbers[0] if numbers else 0
            out = s.peer_have(peer, index)
            held.setdefault(peer, set()).update([index] if 0 <= index < n else [])
            revealed.setdefault(peer, set())
        elif kind == "serve":
            out = s.start_serving(peer)
            held.setdefault(peer, set())
            revealed.setdefault(peer, set())
            served.add(peer)
        elif kind == "request":
            index = numbers[0] if numbers else 0
            assert s.request(peer, index, 0) == (not s.active or index in revealed.get(peer, set()))
            out = []
        elif kind == "turn":
            out = s.new_turn(peer)
        elif kind == "handover":
            s.handed_over(peer)
            out = []
        elif kind == "stalled":
            assert set(s.stalled()) <= served
            out = []
        elif kind == "stop":
            out = s.stop_serving(peer)
            served.discard(peer)
        else:
            out = s.remove_peer(peer)
            held.pop(peer, None)
            revealed.pop(peer, None)
            served.discard(peer)
        for who, index in out:
            assert who in held and 0 <= index < n
            assert index not in revealed[who], "a piece is revealed to a peer once"
            assert index not in held[who], "only missing pieces are revealed"
            if before_active and s.active:
                assert who in served, "while super-seeding only served peers are shown pieces"
            revealed[who].add(index)
        if s.active:
            fetching = [i for p in PEERS for i in s.assigned(p)]
            assert len(fetching) == len(set(fetching)), "two served peers fetch the same piece"
            for p in PEERS:
                assert len(s.assigned(p)) <= per_peer
                for i in set(s.assigned(p)) & held.get(p, set()):
                    # Done once the peer has it; strict: once some other peer has it too.
                    assert strict and not any(i in h for q, h in held.items() if q != p)
                assert set(s.assigned(p)) <= revealed.get(p, set())
                assert not s.assigned(p) or p in served
            assert set().union(*held.values()) != set(range(n)), "the fall-back is due"
            assert {p for p, _ in s.finished_turns()} <= served and set(s.finishing()) <= served
            waiting = [p for p in PEERS if p not in served]
            following = s.next_to_serve(waiting)
            assert following is None or (following in waiting and s.wants(following))
        else:
            assert all(s.assigned(p) == [] for p in PEERS)
            assert s.finished_turns() == [] and s.finishing() == []
        for p in PEERS:
            for i in range(n):
                assert s.may_serve(p, i) == (not s.active or i in revealed.get(p, set()))
            assert s.wants(p) == (p in held and len(held[p]) < n)
