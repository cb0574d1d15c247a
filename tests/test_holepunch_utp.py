"""The simultaneous uTP open of BEP 55 (net/utp.py ``punch``) on the simulated network: however
the two SYNs meet, the two sides end with one connection between them."""

import random

import pytest
import trio
import trio.testing

from torrentish.net.sim import SimNetwork
from torrentish.net.utp import UtpNetwork, open_utp


async def _listen(endpoint, nursery):
    send, receive = trio.open_memory_channel(10)

    async def handler(stream, address):
        await send.send(stream)
        await trio.sleep_forever()

    await nursery.start(UtpNetwork(endpoint).serve, "", 0, handler)
    return receive


async def _pair(endpoint_a, endpoint_b, delay_b):
    """Both punch (b ``delay_b`` s later); each side's stream: its own or the one it accepted."""
    results = {}

    async def punch(name, endpoint, host, delay, accepted):
        await trio.sleep(delay)
        stream = await endpoint.punch(host, 6881, timeout=10)
        results[name] = ("dialed", stream) if stream is not None else ("accepted", await accepted.receive())

    async with trio.open_nursery() as nursery:
        accepted_a = await _listen(endpoint_a, nursery)
        accepted_b = await _listen(endpoint_b, nursery)
        async with trio.open_nursery() as punches:
            punches.start_soon(punch, "a", endpoint_a, "10.0.0.2", 0.0, accepted_a)
            punches.start_soon(punch, "b", endpoint_b, "10.0.0.1", delay_b, accepted_b)
        (how_a, a), (how_b, b) = results["a"], results["b"]
        await a.send_all(b"ping from a")
        await b.send_all(b"pong from b")
        assert await b.receive_some() == b"ping from a"
        assert await a.receive_some() == b"pong from b"
        await trio.sleep(5)  # SYN resends would open a second connection by now
        nursery.cancel_scope.cancel()
    return how_a, how_b


@pytest.mark.parametrize("seed_a, seed_b", [(1, 2), (2, 1), (3, 4), (4, 3)])
@pytest.mark.parametrize("delay_b", [0.0, 0.001, 0.5])
async def test_two_sides_punching_end_with_one_connection(autojump_clock, seed_a, seed_b, delay_b):
    sim = SimNetwork()
    async with trio.open_nursery() as outer:
        await outer.start(sim.run)
        one, two = sim.add_node("10.0.0.1", latency=0.02), sim.add_node("10.0.0.2", latency=0.03)
        async with open_utp(one, "", 6881, rng=random.Random(seed_a)) as a, \
                open_utp(two, "", 6881, rng=random.Random(seed_b)) as b:
            with trio.fail_after(60):
                ways = await _pair(a, b, delay_b)
            assert sorted(ways) == ["accepted", "dialed"]
            assert len(a.connections) == 1 and len(b.connections) == 1
            assert a.stats["resets_sent"] == b.stats["resets_sent"] == 0
        outer.cancel_scope.cancel()


async def test_punching_nobody_times_out_and_needs_a_listener(autojump_clock):
    sim = SimNetwork()
    async with trio.open_nursery() as outer:
        await outer.start(sim.run)
        node = sim.add_node("10.0.0.1")
        sim.add_node("10.0.0.2")
        async with open_utp(node, "", 6881) as a:
            with pytest.raises(OSError, match="not listening"):
                await a.punch("10.0.0.2", 6881)
            async with trio.open_nursery() as nursery:
                await _listen(a, nursery)
                with pytest.raises(OSError, match="timed out"):
                    await a.punch("10.0.0.2", 6881, timeout=10)
                nursery.cancel_scope.cancel()
            assert not a.connections
        outer.cancel_scope.cancel()
