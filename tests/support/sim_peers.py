"""Engine tests on the simulated network (torrentish/net/sim.py), in virtual time.

Real sockets and an autojumping MockClock do not mix safely: while bytes sit in the kernel, or a
worker thread hashes, trio looks idle, and the clock leaps to the next deadline (a timeout, a
rechoke) on a loaded machine. On the simulated network every byte moves in virtual time, and the
storages below hash on the event loop, so nothing happens outside trio: the clock jumps only when
every task waits for a timer, and a test runs the same way however busy the machine is. Run such
tests with the `virtual_clock` fixture (MockClock, autojump at once).

    async with sim_lab() as lab, lab.client("10.0.0.1", settings=Settings(upload_slots=1)) as seed:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        async with lab.fake_peer(seed, sample) as peer:     # a FakePeer on a node of its own
            ...

Each FakePeer gets its own node (host), so the engine's view of it is told apart by host:
`peer.host` for a peer that dialed, `listener.host` for one the engine dialed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio
from trio.testing import MockClock

from tests.support.fake_peer import FakeListener, FakePeer, SampleTorrent, answer_as_seed, running
from torrentish.engine.client import Client, open_client
from torrentish.net.sim import SimConfig, SimNetwork
from torrentish.net.transports import TransportNetwork
from torrentish.storage.memory import MemoryStorage


def virtual_clock() -> MockClock:
    """Jumps as soon as every task waits: safe only when nothing runs outside trio (see above)."""
    return MockClock(autojump_threshold=0)


class InlineHashStorage(MemoryStorage):
    """MemoryStorage whose whole-piece check hashes on the event loop (no worker thread)."""

    async def write_verified(self, offset, data, digest) -> bool:
        if hashlib.sha1(data).digest() != digest:
            return False
        await self.write(offset, data)
        return True


async def seed_storage(sample: SampleTorrent) -> MemoryStorage:
    """The whole torrent, recorded as complete: the start-up check hashes nothing (no thread)."""
    storage = InlineHashStorage.filled(sample.info.geometry(), sample.data)
    await storage.save_completed(set(range(sample.info.num_pieces)))
    return storage


def empty_storage(sample: SampleTorrent) -> MemoryStorage:
    return InlineHashStorage(sample.info.geometry())


class SimLab:
    """Clients and fake peers on one simulated network; each on a node (host) of its own."""

    def __init__(self, network: SimNetwork):
        self.network = network
        self._fakes = 0

    @asynccontextmanager
    async def client(self, host: str, *, up: float = 0, down: float = 0, latency: float = 0.001,
                     transport: str | None = None, **kwargs) -> AsyncIterator[Client]:
        """A torrentish client on its own node (`up`/`down` in bytes/s, 0: unlimited), with an
        rng seeded by its order (so its own peer id, and reproducible choices). With `transport`
        ("both", "utp"), it speaks uTP over the node's datagrams too (net/transports.py)."""
        rng = random.Random(len(self.network.nodes))
        node = self.network.add_node(host, up=up, down=down, latency=latency)
        network = node
        if transport is not None:
            network = TransportNetwork(node, node, transport, rng=random.Random(rng.random()))
        async with open_client(network=network, host=host, rng=rng, **kwargs) as client:
            yield client

    def _fake_node(self, latency: float):
        self._fakes += 1
        return self.network.add_node(f"10.9.0.{self._fakes}", latency=latency)

    @asynccontextmanager
    async def fake_peer(self, client: Client, sample: SampleTorrent, *, handshake: bool = True,
                        latency: float = 0.001, host: str | None = None, **kwargs) -> AsyncIterator[FakePeer]:
        """A FakePeer that dials `client`; with `handshake`, sends ours and awaits theirs. It gets
        a node of its own, or dials from `host` (a node already there: the same peer again)."""
        node = self.network.nodes[host] if host else self._fake_node(latency)
        stream = await node.connect(_host_of(self.network, client), client.port)
        peer = FakePeer(stream, sample, local_port=0, host=node.host, **kwargs)
        async with running(peer, handshake=handshake):
            yield peer

    @asynccontextmanager
    async def fake_listener(self, sample: SampleTorrent,
                            on_connect: Callable[[FakePeer], Awaitable[None]] = answer_as_seed, *,
                            latency: float = 0.001, **peer_kwargs) -> AsyncIterator[FakeListener]:
        """Accepts what clients dial at (`listener.host`, `listener.port`); each a FakePeer."""
        node = self._fake_node(latency)
        listener = FakeListener(sample, on_connect, host=node.host, **peer_kwargs)
        async with trio.open_nursery() as nursery:
            listener.port = await nursery.start(node.serve, node.host, 0, listener._handle)
            listener.host = node.host
            try:
                yield listener
            finally:
                nursery.cancel_scope.cancel()


def _host_of(network: SimNetwork, client: Client) -> str:
    ours = getattr(client.network, "tcp", client.network)  # a TransportNetwork wraps the node
    return next(host for host, node in network.nodes.items() if node is ours)


@asynccontextmanager
async def sim_lab(config: SimConfig | None = None) -> AsyncIterator[SimLab]:
    network = SimNetwork(config or SimConfig())
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        yield SimLab(network)
        nursery.cancel_scope.cancel()
