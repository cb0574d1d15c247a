"""uTP over the shared UDP socket: real loopback UDP and the simulated network with loss."""

import random

import pytest
import trio
import trio.testing

from torrentish.net.sim import SimConfig, SimNetwork
from torrentish.net.udp import UdpNetwork
from torrentish.net.utp import UtpNetwork, open_utp
from torrentish.wire.utp import packet as p

DATA = random.Random(1).randbytes(3 * 1024 * 1024 + 17)
BACK = random.Random(2).randbytes(200_000)


async def _exchange(client_stream, server_streams, data=DATA, back=BACK):
    """Both send at once; the server closes once it has all of ``data`` and has sent ``back``,
    the client reads to that EOF, then closes."""
    got_server = bytearray()
    got_client = bytearray()

    async def client():
        async with trio.open_nursery() as nursery:
            async def writer():
                view = memoryview(data)
                for i in range(0, len(data), 100_000):
                    await client_stream.send_all(view[i : i + 100_000])
            nursery.start_soon(writer)
            while chunk := await client_stream.receive_some():
                got_client.extend(chunk)
        await client_stream.aclose()

    async def server():
        stream = await server_streams.receive()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.send_all, back)
            while len(got_server) < len(data):
                chunk = await stream.receive_some()
                assert chunk
                got_server.extend(chunk)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        nursery.start_soon(client)
    assert bytes(got_server) == data
    assert bytes(got_client) == back


async def _serve(endpoint, nursery):
    send, receive = trio.open_memory_channel(10)

    async def handler(stream, address):
        await send.send(stream)
        await trio.sleep_forever()

    port = await nursery.start(UtpNetwork(endpoint).serve, "", 0, handler)
    assert port == endpoint.port
    return receive


async def test_loopback_udp_both_ways():
    net = UdpNetwork()
    async with open_utp(net, "127.0.0.1", 0) as a, open_utp(net, "127.0.0.1", 0) as b:
        async with trio.open_nursery() as nursery:
            accepted = await _serve(b, nursery)
            with trio.fail_after(30):
                stream = await UtpNetwork(a).connect("127.0.0.1", b.port)
                await _exchange(stream, accepted)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("loss", [0.0, 0.03])
async def test_simulated_network_with_loss(autojump_clock, loss):
    sim = SimNetwork(SimConfig(datagram_loss=loss, datagram_seed=4))
    async with trio.open_nursery() as outer:
        await outer.start(sim.run)
        one, two = sim.add_node("10.0.0.1", latency=0.02), sim.add_node("10.0.0.2", latency=0.03)
        async with open_utp(one, "", 6881, rng=random.Random(1)) as a, open_utp(two, "", 6881, rng=random.Random(2)) as b:
            async with trio.open_nursery() as nursery:
                accepted = await _serve(b, nursery)
                with trio.fail_after(120):
                    stream = await UtpNetwork(a).connect("10.0.0.2", 6881)
                    await _exchange(stream, accepted, DATA[:600_000], BACK[:50_000])
                resent = stream.connection.resent
                nursery.cancel_scope.cancel()
        outer.cancel_scope.cancel()
    assert (resent > 0) == (loss > 0)


async def test_connecting_to_nobody_fails_with_a_reason(autojump_clock):
    sim = SimNetwork()
    async with trio.open_nursery() as outer:
        await outer.start(sim.run)
        node = sim.add_node("10.0.0.1")
        sim.add_node("10.0.0.2")
        async with open_utp(node, "", 6881) as a:
            with pytest.raises(OSError, match="uTP connection to 10.0.0.2:6881: timed out"):
                await UtpNetwork(a, connect_timeout=5).connect("10.0.0.2", 6881)
            assert not a.connections
        outer.cancel_scope.cancel()


async def test_a_port_without_a_listener_resets_and_garbage_is_dropped():
    net = UdpNetwork()
    async with open_utp(net, "127.0.0.1", 0) as a, open_utp(net, "127.0.0.1", 0) as b:
        with trio.fail_after(5):
            with pytest.raises(OSError, match="reset by peer"):
                await a.connect("127.0.0.1", b.port)
        raw = await net.open_datagram("127.0.0.1", 0)
        await raw.send_batch([(b"\x01" * 5, ("127.0.0.1", b.port)), (b"\xff" * 40, ("127.0.0.1", b.port)),
                              (p.encode_header(p.ST_DATA, 77, 1, 1, 1, 1, 1), ("127.0.0.1", b.port))])
        with trio.fail_after(5):
            batch = await raw.receive_batch()
        assert [p.decode(d).type for d, _ in batch] == [p.ST_RESET]
        assert p.decode(batch[0][0]).conn_id == 77
        raw.close()


async def test_dht_and_utp_share_one_udp_socket():
    from tests.support.trackerless import local_config
    from torrentish.services.dht.node import open_dht_node

    net = UdpNetwork()
    async with open_utp(net, "127.0.0.1", 0) as a, open_utp(net, "127.0.0.1", 0) as b:
        config_a, config_b = local_config(), local_config(bootstrap=(b.port,))
        async with open_dht_node(config_a, shared=a.shared.dht) as node_a, \
                open_dht_node(config_b, shared=b.shared.dht) as node_b:
            assert (node_a.port, node_b.port) == (a.port, b.port)
            async with trio.open_nursery() as nursery:
                accepted = await _serve(b, nursery)
                with trio.fail_after(20):
                    stream = await a.connect("127.0.0.1", b.port)
                    assert await node_a.ping(("127.0.0.1", b.port)) == node_b.node_id  # mid-transfer
                    await _exchange(stream, accepted, DATA[:300_000], BACK[:1000])
                    assert await node_b.ping(("127.0.0.1", a.port)) == node_a.node_id
                nursery.cancel_scope.cancel()
    assert a.stats["bad_packets"] == 0 and b.shared.dropped == 0


async def test_a_closed_udp_port_refuses_at_once():
    """ICMP port unreachable fails the attempt (so 'both' falls back to TCP without waiting)."""
    net = UdpNetwork()
    closed = await net.open_datagram("127.0.0.1", 0)
    port = closed.port
    closed.close()
    async with open_utp(net, "127.0.0.1", 0) as a:
        with trio.fail_after(0.9):  # the first SYN resend would come after 1 s
            with pytest.raises(OSError, match="connection refused"):
                await a.connect("127.0.0.1", port)


async def test_one_dht_node_at_a_time_gets_the_shared_socket():
    from types import SimpleNamespace

    from tests.support.trackerless import local_config
    from torrentish.services.dht.node import open_dht_node, shared_dht_channel

    async with open_utp(UdpNetwork(), "127.0.0.1", 0) as endpoint:
        network = SimpleNamespace(endpoint=endpoint)
        first = shared_dht_channel(network)
        assert first is endpoint.shared.dht and shared_dht_channel(network) is None
        async with open_dht_node(local_config(), shared=first) as node:
            assert node.port == endpoint.port
        assert shared_dht_channel(network) is first  # released when that node stopped
    assert shared_dht_channel(SimpleNamespace()) is None  # a TCP-only network has none
