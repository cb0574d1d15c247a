"""Datagrams on the simulated network: a port per socket, one-way latency, random loss.

Datagrams travel outside the bandwidth sharing of net/sim.py (they are few beside the streams,
or, for uTP in the simulator, the test is about loss and timing, not capacity); loss comes from
the network's seeded random.Random, so a run is reproducible.
"""

from __future__ import annotations

import trio

from torrentish.net.base import Address, DatagramSocket

QUEUE = 4096  # datagrams waiting at a socket; more are dropped as a full buffer would


class SimDatagramSocket(DatagramSocket):
    def __init__(self, network, node, port: int):
        self._network = network
        self._node = node
        self.port = port
        self._inbox: list[tuple[bytes, Address]] = []
        self._waiter: trio.Event | None = None
        self._closed = False
        self.dropped = 0

    def _arrive(self, data: bytes, source: Address) -> None:
        if self._closed:
            return
        if len(self._inbox) >= QUEUE:
            self.dropped += 1
            return
        self._inbox.append((data, source))
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    async def receive_batch(self) -> list[tuple[bytes, Address]]:
        while not self._inbox:
            if self._closed:
                raise trio.ClosedResourceError("socket closed")
            self._waiter = trio.Event()
            await self._waiter.wait()
        batch, self._inbox = self._inbox, []
        return batch

    async def send_batch(self, datagrams: list[tuple[bytes, Address]]) -> None:
        network = self._network
        loss = network.config.datagram_loss
        rng = network.datagram_rng
        now = trio.current_time()
        source = (self._node.host, self.port)
        for data, address in datagrams:
            self._node.bytes_up += len(data)
            if loss and rng.random() < loss:
                continue
            target = network.datagram_sockets.get(address)
            if target is None:
                continue
            arrival = now + self._node.latency + target._node.latency
            network.call_at(arrival, lambda t=target, d=data: t._arrive(d, source))
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        self._closed = True
        self._network.datagram_sockets.pop((self._node.host, self.port), None)
        if self._waiter is not None:
            self._waiter.set()
