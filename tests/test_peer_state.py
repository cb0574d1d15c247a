"""One peer's protocol state (torrentish.core.peer_state): what it records, and what it refuses
to let us send."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from torrentish.core.bitfield import Bitfield
from torrentish.core.peer_state import MAX_ALLOWED_FAST, LocalProtocolError, PeerState

N = 8
BLOCK = 16384


def ours(*indices: int, size: int = N) -> Bitfield:
    bits = Bitfield(size)
    for index in indices:
        bits.add(index)
    return bits


def state(have: Bitfield | None = None, *, fast: bool = True, queue_limit: int = 4) -> PeerState:
    return PeerState(have if have is not None else ours(), fast=fast, queue_limit=queue_limit)


def test_a_new_link_is_choked_and_uninterested_both_ways():
    s = state()
    assert s.am_choking and s.peer_choking and not s.am_interested and not s.peer_interested
    assert s.pieces.count() == 0 and not s.is_seed and s.unchoked_at is None
    assert not s.requested and not s.allowed_fast


def test_what_the_peer_says_is_recorded():
    s = state()
    s.receive_unchoke()
    s.receive_interested()
    assert not s.peer_choking and s.peer_interested
    assert s.receive_have(3) and not s.receive_have(3)  # a repeated HAVE is not news
    before = s.receive_pieces(Bitfield.full(N))
    assert list(before) == [3] and s.is_seed
    with pytest.raises(ValueError):
        s.receive_pieces(Bitfield(N + 1))
    s.receive_choke()
    s.receive_not_interested()
    assert s.peer_choking and not s.peer_interested
    s.receive_reqq(3)
    s.receive_reqq(0)  # nonsense is ignored
    assert s.reqq == 3


def test_allowed_fast_is_bounded_whatever_the_peer_sends():
    s = state()
    for index in range(10 * MAX_ALLOWED_FAST):
        s.receive_allowed_fast(index)
    assert len(s.allowed_fast) == MAX_ALLOWED_FAST


def test_requests_are_queued_only_while_unchoked_for_pieces_we_have_up_to_our_reqq():
    s = state(ours(0, 1), queue_limit=2)
    assert not s.receive_request(0, 0, BLOCK)  # we choke it
    s.send_unchoke(5.0)
    assert s.unchoked_at == 5.0
    assert not s.receive_request(2, 0, BLOCK)  # we lack piece 2
    assert s.receive_request(0, 0, BLOCK) and s.receive_request(1, 0, BLOCK)
    assert not s.receive_request(1, BLOCK, BLOCK)  # the queue is full
    s.receive_cancel(0, 0, BLOCK)
    s.receive_cancel(0, 0, BLOCK)  # twice, or never asked: nothing
    assert list(s.requested) == [(1, 0, BLOCK)]
    assert s.receive_request(1, BLOCK, BLOCK)
    s.unqueue_last()
    assert list(s.requested) == [(1, 0, BLOCK)]
    assert s.send_choke() == [(1, 0, BLOCK)]  # what the CHOKE leaves unanswered (REJECT it)
    assert not s.requested


def test_choke_unchoke_interest_must_alternate():
    s = state()
    with pytest.raises(LocalProtocolError):
        s.send_choke()
    s.send_unchoke(0.0)
    with pytest.raises(LocalProtocolError):
        s.send_unchoke(1.0)
    assert s.unchoked_at == 0.0
    with pytest.raises(LocalProtocolError):
        s.send_not_interested()
    s.send_interested()
    with pytest.raises(LocalProtocolError, match="twice"):
        s.send_interested()


def test_have_only_for_pieces_we_have():
    have = ours(2)
    s = state(have)
    s.send_have(2)
    with pytest.raises(LocalProtocolError, match="lack"):
        s.send_have(3)
    have.add(3)  # the state reads the torrent's own have-set
    s.send_have(3)


@pytest.mark.parametrize("first", ["bitfield", "have_all", "have_none"])
def test_our_pieces_are_announced_once(first):
    s = state(Bitfield.full(N))
    getattr(s, f"send_{first}")()
    for again in ["bitfield", "have_all", "have_none"]:
        with pytest.raises(LocalProtocolError, match="already"):
            getattr(s, f"send_{again}")()


def test_have_all_and_have_none_need_the_fast_extension_and_have_all_the_truth():
    with pytest.raises(LocalProtocolError, match="Fast"):
        state(Bitfield.full(N), fast=False).send_have_all()
    with pytest.raises(LocalProtocolError, match="Fast"):
        state(fast=False).send_have_none()
    with pytest.raises(LocalProtocolError, match="lack"):
        state(ours(1)).send_have_all()
    s = state(ours(1))
    s.send_have_none()  # a super-seed's opening: allowed although we have piece 1
    assert state(ours(1), fast=False).send_bitfield() == ours(1).to_bytes()


def test_requests_need_interest_an_unchoke_or_allowed_fast_and_room_in_the_reqq():
    blocks = [(4, 0, BLOCK), (4, BLOCK, BLOCK)]
    s = state()
    with pytest.raises(LocalProtocolError, match="not interested"):
        s.send_requests(blocks, 2)
    s.send_interested()
    with pytest.raises(LocalProtocolError, match="choked"):
        s.send_requests(blocks, 2)
    s.receive_allowed_fast(4)
    s.send_requests(blocks, 2)  # choked, but piece 4 is allowed fast
    with pytest.raises(LocalProtocolError, match="allowed fast"):
        s.send_requests([(5, 0, BLOCK)], 3)
    plain = state(fast=False)
    plain.send_interested()
    plain.receive_allowed_fast(4)  # (the codec refuses it without Fast; the state still says no)
    with pytest.raises(LocalProtocolError, match="choked"):
        plain.send_requests(blocks, 2)
    s.receive_unchoke()
    s.receive_reqq(3)
    s.send_requests([(5, 0, BLOCK)], 3)
    with pytest.raises(LocalProtocolError, match="queues 3"):
        s.send_requests([(6, 0, BLOCK)], 4)


def test_reject_needs_the_fast_extension():
    state().send_reject()
    with pytest.raises(LocalProtocolError):
        state(fast=False).send_reject()


# ------------------------------------------------------------------ the state machine
class Link(RuleBasedStateMachine):
    """Any interleaving of what the peer sends and what we try to send: every refusal leaves the
    state as it was, everything allowed is recorded, and the bounds hold."""

    def __init__(self):
        super().__init__()
        self.have = Bitfield(N)
        self.fast = True
        self.s = PeerState(self.have, fast=self.fast, queue_limit=3)
        self.model = dict(am_choking=True, am_interested=False, peer_choking=True,
                          peer_interested=False)

    def snapshot(self):
        s = self.s
        return (s.am_choking, s.am_interested, s.peer_choking, s.peer_interested,
                s.pieces.to_bytes(), frozenset(s.allowed_fast), s.reqq, tuple(s.requested),
                s.unchoked_at)

    def attempt(self, allowed: bool, send, *args):
        """Call a send_* method: it must succeed exactly when `allowed`, and change nothing when
        it refuses. Returns what it returned."""
        before = self.snapshot()
        try:
            result = send(*args)
        except LocalProtocolError:
            assert not allowed, f"{send.__name__}{args} was refused"
            assert self.snapshot() == before, "a refused send changed the state"
            return None
        assert allowed, f"{send.__name__}{args} should have been refused"
        return result

    @rule(index=st.integers(0, N - 1))
    def we_get_a_piece(self, index):
        self.have.add(index)

    @rule(kind=st.sampled_from(["choke", "unchoke", "interested", "not_interested"]))
    def peer_says(self, kind):
        getattr(self.s, f"receive_{kind}")()
        flag = "peer_interested" if "interested" in kind else "peer_choking"
        self.model[flag] = kind in ("choke", "interested")

    @rule(index=st.integers(0, N - 1))
    def peer_has(self, index):
        new = index not in self.s.pieces
        assert self.s.receive_have(index) == new
        assert index in self.s.pieces

    @rule(index=st.integers(0, 200))
    def peer_allows_fast(self, index):
        self.s.receive_allowed_fast(index)

    @rule(reqq=st.integers(-1, 6))
    def peer_reqq(self, reqq):
        self.s.receive_reqq(reqq)

    @rule(index=st.integers(0, N - 1), number=st.integers(0, 3))
    def peer_requests(self, index, number):
        expected = (not self.s.am_choking and len(self.s.requested) < 3 and index in self.have)
        assert self.s.receive_request(index, number * BLOCK, BLOCK) == expected

    @precondition(lambda self: self.s.requested)
    @rule(data=st.data())
    def peer_cancels(self, data):
        request = data.draw(st.sampled_from(list(self.s.requested)))
        self.s.receive_cancel(*request)
        assert request not in self.s.requested

    @rule()
    def we_choke(self):
        queued = list(self.s.requested)
        allowed = not self.model["am_choking"]
        dropped = self.attempt(allowed, self.s.send_choke)
        if allowed:
            assert dropped == queued
            self.model["am_choking"] = True

    @rule(now=st.floats(0, 1000))
    def we_unchoke(self, now):
        allowed = self.model["am_choking"]
        self.attempt(allowed, self.s.send_unchoke, now)
        if allowed:
            self.model["am_choking"] = False
            assert self.s.unchoked_at == now

    @rule(interested=st.booleans())
    def we_change_interest(self, interested):
        send = self.s.send_interested if interested else self.s.send_not_interested
        allowed = self.model["am_interested"] != interested
        self.attempt(allowed, send)
        if allowed:
            self.model["am_interested"] = interested

    @rule(index=st.integers(0, N - 1))
    def we_send_have(self, index):
        self.attempt(index in self.have, self.s.send_have, index)

    @rule(indices=st.lists(st.integers(0, N - 1), min_size=1, max_size=4), outstanding=st.integers(1, 8))
    def we_request(self, indices, outstanding):
        s = self.s
        blocks = [(i, 0, BLOCK) for i in indices]
        allowed = (s.am_interested and outstanding <= s.reqq
                   and (not s.peer_choking or all(i in s.allowed_fast for i in indices)))
        self.attempt(allowed, s.send_requests, blocks, outstanding)

    @invariant()
    def flags_match_the_model(self):
        for flag, value in self.model.items():
            assert getattr(self.s, flag) == value, flag

    @invariant()
    def bounds_hold(self):
        s = self.s
        assert not (s.am_choking and s.requested), "requests queued while we choke the peer"
        assert len(s.requested) <= s.queue_limit
        assert all(index in self.have for index, _, _ in s.requested)
        assert len(s.allowed_fast) <= MAX_ALLOWED_FAST and s.reqq >= 1
        assert s.is_seed == s.pieces.complete()


TestLink = Link.TestCase
TestLink.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
