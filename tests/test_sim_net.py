"""The simulated network: capacities, fair sharing, latency, stream semantics, in virtual time."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.net.sim import SimConfig, SimNetwork

MB = 1_000_000


async def _sink(received: dict, key):
    """A handler that reads everything, recording (bytes, time of EOF)."""

    async def handler(stream, address):
        data = bytearray()
        while chunk := await stream.receive_some(1 << 20):
            data += chunk
        received[key or address[0]] = (bytes(data), trio.current_time())
        await stream.aclose()

    return handler


async def _send_and_close(node, host, payload: bytes, start: trio.Event | None = None):
    stream = await node.connect(host, 6881)
    if start is not None:
        await start.wait()
    await stream.send_all(payload)
    await stream.aclose()


async def test_one_flow_runs_at_the_bottleneck_capacity(autojump_clock):
    net = SimNetwork(SimConfig(quantum=0.01))
    received: dict = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=1 * MB, down=0, latency=0.01)
        b = net.add_node("10.0.0.2", up=0, down=4 * MB, latency=0.02)
        await nursery.start(b.serve, "10.0.0.2", 6881, await _sink(received, "b"))
        start = trio.current_time()
        await _send_and_close(a, "10.0.0.2", b"x" * (2 * MB))
        while "b" not in received:
            await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    data, done = received["b"]
    assert data == b"x" * (2 * MB)
    # connect: one round trip (0.06 s); 2 s at 1 MB/s; the last bytes need one more path latency.
    assert done - start == pytest.approx(0.06 + 2.0 + 0.03, abs=0.03)
    assert a.bytes_up == 2 * MB and b.bytes_down == 2 * MB


async def test_receivers_download_capacity_is_shared_max_min_fair(autojump_clock):
    """a is capped at 0.2 MB/s up; b's 1 MB/s download leaves the other 0.8 MB/s to c."""
    net = SimNetwork(SimConfig(quantum=0.01))
    received: dict = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=0.2 * MB)
        c = net.add_node("10.0.0.3", up=0)
        b = net.add_node("10.0.0.2", down=1 * MB)
        await nursery.start(b.serve, "10.0.0.2", 6881, await _sink(received, None))
        go = trio.Event()
        nursery.start_soon(_send_and_close, a, "10.0.0.2", b"a" * MB, go)
        nursery.start_soon(_send_and_close, c, "10.0.0.2", b"c" * (2 * MB), go)
        await trio.sleep(0.5)
        start = trio.current_time()
        go.set()
        while len(received) < 2:
            await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    # An equal split would give c 0.5 MB/s (4 s); max-min fairness gives it a's unused 0.3.
    assert received["10.0.0.3"][1] - start == pytest.approx(2.5, abs=0.05)
    assert received["10.0.0.1"][1] - start == pytest.approx(5.0, abs=0.05)


async def test_small_messages_take_the_path_latency(autojump_clock):
    net = SimNetwork(SimConfig(quantum=0.01))
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=MB, latency=0.03)
        b = net.add_node("10.0.0.2", up=MB, latency=0.02)
        accepted: list = []

        async def handler(stream, address):
            accepted.append((stream, trio.current_time()))
            await trio.sleep_forever()

        await nursery.start(b.serve, "10.0.0.2", 6881, handler)
        before = trio.current_time()
        stream = await a.connect("10.0.0.2", 6881)
        assert trio.current_time() - before == pytest.approx(0.10)  # SYN + SYN-ACK
        assert accepted[0][1] - before == pytest.approx(0.05)
        sent = trio.current_time()
        await stream.send_all(b"ping")
        assert await accepted[0][0].receive_some() == b"ping"
        # Waits for the next tick (at most one quantum), then one path latency.
        assert 0.05 <= trio.current_time() - sent <= 0.05 + 0.01 + 1e-9
        nursery.cancel_scope.cancel()


async def test_eof_follows_the_data_and_closing_breaks_the_other_senders(autojump_clock):
    net = SimNetwork()
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=MB)
        b = net.add_node("10.0.0.2", up=MB)
        ends: list = []

        async def handler(stream, address):
            ends.append(stream)
            await trio.sleep_forever()

        await nursery.start(b.serve, "10.0.0.2", 6881, handler)
        stream = await a.connect("10.0.0.2", 6881)
        await stream.send_all(b"y" * 300_000)
        await stream.aclose()
        got = bytearray()
        while chunk := await ends[0].receive_some(65536):
            got += chunk
        assert got == b"y" * 300_000
        assert await ends[0].receive_some() == b""  # EOF stays EOF
        with pytest.raises(trio.BrokenResourceError):
            await ends[0].send_all(b"too late")
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()
        nursery.cancel_scope.cancel()


async def test_connecting_to_nobody_is_refused(autojump_clock):
    net = SimNetwork()
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", latency=0.01)
        net.add_node("10.0.0.2", latency=0.01)
        with pytest.raises(OSError):
            await a.connect("10.0.0.2", 6881)  # no listener
        with pytest.raises(OSError):
            await a.connect("10.9.9.9", 6881)  # no such host
        nursery.cancel_scope.cancel()


async def test_a_blocked_sender_detects_a_second_sender(autojump_clock):
    net = SimNetwork(SimConfig(send_buffer=1000))
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=1000)
        b = net.add_node("10.0.0.2")
        await nursery.start(b.serve, "10.0.0.2", 6881, lambda s, addr: trio.sleep_forever())
        stream = await a.connect("10.0.0.2", 6881)
        nursery.start_soon(stream.send_all, b"z" * 10_000)  # blocks: 10 s at 1 kB/s
        await trio.sleep(1)
        with pytest.raises(trio.BusyResourceError):
            await stream.send_all(b"more")
        nursery.cancel_scope.cancel()


async def test_receive_coalescing_waits_for_lowat_or_hold(autojump_clock):
    net = SimNetwork(SimConfig(quantum=0.01, rx_lowat=50_000, rx_hold=0.2))
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        a = net.add_node("10.0.0.1", up=MB)
        b = net.add_node("10.0.0.2")
        ends: list = []

        async def handler(stream, address):
            ends.append(stream)
            await trio.sleep_forever()

        await nursery.start(b.serve, "10.0.0.2", 6881, handler)
        stream = await a.connect("10.0.0.2", 6881)
        sent = trio.current_time()
        await stream.send_all(b"h" * 10)
        assert await ends[0].receive_some() == b"h" * 10
        assert trio.current_time() - sent == pytest.approx(0.2, abs=0.011)  # held
        sent = trio.current_time()
        await stream.send_all(b"b" * 200_000)
        first = await ends[0].receive_some()
        assert len(first) >= 50_000  # woken once lowat bytes were there: about 0.05 s at 1 MB/s
        assert trio.current_time() - sent < 0.2
        nursery.cancel_scope.cancel()


def _transfer(sizes: list[int], seed: int) -> tuple[bytes, bytes, list[float]]:
    """Messages of the given sizes a -> b over a slow link; returns (sent, received, arrival times)."""
    rng = random.Random(seed)
    payloads = [rng.randbytes(n) for n in sizes]
    out: dict = {}

    async def main():
        net = SimNetwork(SimConfig(quantum=0.01, small_bytes=64, send_buffer=4096))
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            a = net.add_node("10.0.0.1", up=50_000, latency=0.005)
            b = net.add_node("10.0.0.2", down=80_000, latency=0.005)
            got = bytearray()
            times: list[float] = []

            async def handler(stream, address):
                while chunk := await stream.receive_some(7000):
                    got.extend(chunk)
                    times.append(trio.current_time())
                out["done"] = True

            await nursery.start(b.serve, "10.0.0.2", 6881, handler)
            stream = await a.connect("10.0.0.2", 6881)
            for payload in payloads:
                await stream.send_all(payload)
            await stream.aclose()
            while "done" not in out:
                await trio.sleep(0.1)
            out["got"], out["times"] = bytes(got), times
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return b"".join(payloads), out["got"], out["times"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20_000), max_size=12), st.integers(0, 1000))
def test_any_mix_of_small_and_bulk_messages_arrives_intact_and_in_order(sizes, seed):
    sent, received, times = _transfer(sizes, seed)
    assert received == sent
    assert times == sorted(times)


def test_the_same_transfer_repeated_finishes_within_one_quantum():
    """trio runs ready tasks in a random order on purpose, so whether a sender's bytes make one
    scheduler tick or the next can change between runs: the same transfer may finish up to one
    quantum (0.01 s here) apart, never more, and always delivers the same bytes."""
    sizes = [10, 30_000, 5, 64, 9000, 1]
    runs = [_transfer(sizes, 7) for _ in range(8)]
    assert all(sent == received == runs[0][0] for sent, received, _ in runs)
    finishes = [times[-1] for _, _, times in runs]
    assert max(finishes) - min(finishes) <= 0.01 + 1e-9, finishes
