"""The DHT service under many torrents (services/dht/service.py), in virtual time with a fake
node: seeds' announces share a few lookup slots while downloads never wait for them, and a node
that knows nobody is not polled every two seconds by every torrent."""

from __future__ import annotations

from types import SimpleNamespace

import trio
import trio.testing

from torrentish.services.dht.service import MAX_JOIN_RETRY, DhtService


class FakeNode:
    def __init__(self, knows_someone: bool = True, lookup_seconds: float = 3.0):
        self.port = 6881
        self.tables = {"v4": [1] if knows_someone else []}
        self.lookup_seconds = lookup_seconds
        self.running = self.most = 0
        self.calls: list[tuple[bytes, float]] = []

    def add_contact(self, address) -> None:
        pass

    async def announce(self, info_hash: bytes, port: int):
        self.calls.append((info_hash, trio.current_time()))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await trio.sleep(self.lookup_seconds)
        finally:
            self.running -= 1
        return SimpleNamespace(peers=[]), bool(self.tables["v4"])


def torrent(index: int, complete: bool):
    done = trio.Event()
    if complete:
        done.set()
    return SimpleNamespace(info=SimpleNamespace(private=False), info_hash=bytes([index % 256, index // 256]) * 10,
                           peers={}, known={}, completed=done, dht_port=None, on_dht_node=None,
                           add_peers=lambda found: None, events=SimpleNamespace(publish=lambda e: None))


async def test_seeds_share_the_lookup_slots_and_downloads_do_not_wait(autojump_clock):
    node = FakeNode()
    slots = trio.CapacityLimiter(4)
    seeds = [torrent(i, True) for i in range(100)]
    leech = torrent(500, False)
    client = SimpleNamespace(announce_port=6881)
    with trio.move_on_after(60):
        async with trio.open_nursery() as nursery:
            for t in seeds:
                nursery.start_soon(DhtService(node, seed_lookups=slots), client, t)
            await trio.sleep(1)
            nursery.start_soon(DhtService(node, seed_lookups=slots), client, leech)
    assert node.most == 5  # four seeds and the download
    first_of_leech = min(when for info_hash, when in node.calls if info_hash == leech.info_hash)
    assert first_of_leech == 1.0  # at once, while 96 seeds still wait for a slot
    assert len({h for h, _ in node.calls}) < 100  # the seeds' first announces are spread out


async def test_a_node_that_knows_nobody_is_asked_less_and_less_often(autojump_clock):
    node = FakeNode(knows_someone=False, lookup_seconds=0)
    with trio.move_on_after(600):
        await DhtService(node)(SimpleNamespace(announce_port=6881), torrent(1, True))
    times = [when for _, when in node.calls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:5] == [2.0, 4.0, 8.0, 16.0, 32.0] and set(gaps[5:]) == {MAX_JOIN_RETRY}
    assert len(times) < 20  # not 300
