"""The uTP state machine: two connections through a pure lossy wire in virtual time."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.utp_wire import Wire, WireConfig, transfer
from torrentish.core.ledbat import Ledbat
from torrentish.wire.utp import packet as p
from torrentish.wire.utp.connection import CLOSED, CONNECTED, FAILED, RESET, SYN_RECV, UtpConfig, UtpConnection

DATA = random.Random(7).randbytes(300_000)
BACK = random.Random(8).randbytes(40_000)


def _done(wire: Wire, data=DATA, back=BACK):
    assert wire.received["b"] == data
    assert wire.received["a"] == back
    assert wire.a.state == CLOSED and wire.b.state == CLOSED


def test_clean_path_moves_both_ways_without_resends():
    wire = transfer(Wire(WireConfig(latency=0.01)), DATA, BACK)
    _done(wire)
    assert wire.a.resent == 0 and wire.b.resent == 0
    assert wire.now < 1.0  # slow start fills the path in a few round trips


@pytest.mark.parametrize("config", [
    WireConfig(loss=0.05),
    WireConfig(loss=0.15),
    WireConfig(jitter=0.03),  # reordering: later packets overtake earlier ones
    WireConfig(duplicate=0.3),
    WireConfig(corrupt=0.1),
    WireConfig(loss=0.1, jitter=0.02, duplicate=0.05, corrupt=0.02),
    WireConfig(rate=500_000, latency=0.05),  # a bottleneck queue
], ids=["loss5", "loss15", "reorder", "duplicate", "corrupt", "everything", "bottleneck"])
def test_bad_paths_still_deliver_every_byte_in_order(config):
    _done(transfer(Wire(config, seed=11), DATA, BACK))


@pytest.mark.parametrize("first_seq", [65500, 65535, 0])
def test_sequence_numbers_wrap_around(first_seq):
    wire = transfer(Wire(WireConfig(loss=0.05, jitter=0.01), seed=2, first_seq=first_seq), DATA, BACK)
    _done(wire)


def test_losses_are_repaired_by_fast_retransmit_not_timeouts():
    wire = transfer(Wire(WireConfig(loss=0.02, latency=0.02), seed=5), DATA)
    _done(wire, back=b"")
    assert 0 < wire.a.resent < 60
    assert wire.now < 5.0  # a timeout per loss would take seconds each


def test_a_small_receive_window_bounds_what_is_in_flight():
    utp = UtpConfig(recv_buffer=8 * 1400)
    wire = Wire(WireConfig(latency=0.02), utp=utp)
    most = 0

    def slow_reader(w):
        nonlocal most
        if w.b is not None:
            most = max(most, len(w.b.inbox) + w.b.reorder_bytes)
        return False

    wire.a.write(DATA[:100_000])
    wire.a.close()
    wire.reading = False  # the receiving app never reads: the sender must stop at the window
    original = wire.b
    wire.run(3.0, slow_reader)
    assert original is None and wire.b.state == CONNECTED
    # the window, then one probe per RTO (3 s / 0.5 s) while it stays shut
    assert 8 * 1400 <= len(wire.b.inbox) <= 8 * 1400 + 6 * 1400
    assert most <= 2 * utp.recv_buffer
    # reading opens the window again and the rest arrives
    got = bytearray()
    while wire.now < 60 and not wire.a.done:
        got += wire.b.read()
        if wire.b.eof:
            wire.b.close()
        wire.step()
    got += wire.b.read()
    assert bytes(got) == DATA[:100_000]


def test_peer_that_vanishes_times_out():
    wire = Wire(WireConfig())
    wire.run(1.0)
    wire.a.write(b"x" * 5000)
    wire.config.loss = 1.0
    wire.run(600, lambda w: w.a.done)
    assert wire.a.state == FAILED and wire.a.error == "connection timed out"
    assert wire.now < 200


def test_syn_to_nobody_fails_after_its_resends():
    conn = UtpConnection.initiate(Ledbat(), 5, 0.0)
    sent = conn.flush(0.0)
    now = 0.0
    while not conn.done:
        now = conn.deadline()
        conn.on_timer(now)
        sent += conn.flush(now)
    assert conn.state == FAILED and len(sent) == 3 and now < 8.0
    assert all(p.decode(d).type == p.ST_SYN and p.decode(d).conn_id == 5 for d in sent)


def test_reset_ends_the_connection_with_a_reason():
    wire = Wire(WireConfig())
    wire.run(0.5)
    for datagram in wire.a.abort(wire.now):
        wire.b.receive(p.decode(datagram), wire.now)
    assert wire.a.state == RESET and wire.b.state == RESET
    assert wire.b.error == "connection reset by peer"


def test_keepalive_goes_out_on_an_idle_connection():
    wire = Wire(WireConfig())
    wire.run(1.0)
    sent_before = wire.datagrams
    wire.run(100.0)
    assert wire.a.state == CONNECTED and wire.b.state in (CONNECTED, SYN_RECV)
    assert 3 <= wire.datagrams - sent_before <= 10  # a STATE every 29 s from each side


def test_acks_for_unsent_packets_are_ignored():
    wire = Wire(WireConfig())
    wire.run(0.5)
    a = wire.a
    bogus = p.decode(p.encode_header(p.ST_STATE, a.recv_id, 1, 1, 100000, wire.b.seq_nr, (a.seq_nr + 100) & 0xFFFF))
    before = (a.acked_through, a.cur_window)
    a.receive(bogus, wire.now)
    assert (a.acked_through, a.cur_window) == before


def test_hostile_peer_cannot_make_us_buffer_past_twice_the_window():
    utp = UtpConfig(recv_buffer=10_000)
    conn = UtpConnection.accept(Ledbat(), p.decode(p.encode_header(p.ST_SYN, 7, 1, 0, 10**6, 100, 0)), 50, 0.0, utp)
    for i in range(2, 200):  # out-of-order data far past the window
        conn.receive(p.decode(p.encode_header(p.ST_DATA, 8, 1, 0, 10**6, 100 + i, 49) + bytes(1000)), 0.1)
    assert conn.reorder_bytes + len(conn.inbox) <= 2 * utp.recv_buffer


@settings(max_examples=25)
@given(st.floats(0, 0.25), st.floats(0, 0.03), st.floats(0, 0.2), st.floats(0, 0.1),
       st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.integers(0, 20_000), st.integers(0, 5_000))
def test_any_path_delivers_exactly_the_bytes_sent(loss, jitter, duplicate, corrupt, first_seq, seed, size, back):
    data, back_data = DATA[:size], BACK[:back]
    wire = transfer(Wire(WireConfig(loss=loss, jitter=jitter, duplicate=duplicate, corrupt=corrupt),
                         seed=seed, first_seq=first_seq), data, back_data, until=3000)
    if wire.a.state == FAILED or (wire.b is not None and wire.b.state == FAILED):
        # Only a run of losses long enough to exhaust the resends may end it, never wrong data.
        assert wire.received["b"] == data[: len(wire.received["b"])]
        return
    _done(wire, data, back_data)
