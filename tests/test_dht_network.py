"""A DHT of torrentish nodes on 127.0.0.1, in one process: a magnet with nothing but its info hash
is found, fetched and downloaded; nodes that vanish are replaced in the routing tables."""

from __future__ import annotations

import random

import trio
from trio.testing import wait_all_tasks_blocked

from tests.support.trackerless import LOCALHOST, add_seed, local_config, local_dht, make_info
from torrentish.services.dht.node import DhtNode
from torrentish.services.dht.service import DhtService
from torrentish.engine.client import open_client
from torrentish.services.extensions import standard_extensions
from torrentish.formats.magnet import parse_magnet
from torrentish.app.trackerless import get_magnet

KiB = 1024


async def test_a_magnet_with_only_an_info_hash_downloads_through_the_dht(tmp_path):
    info, data = make_info(300 * KiB, seed=21, name="through-the-dht.bin")
    async with local_dht(30, seed=1) as nodes:
        async with open_client(host=LOCALHOST) as seeder:
            extensions, services = standard_extensions()
            await add_seed(seeder, info, data, extensions=extensions, services=[*services, DhtService(nodes[7])])
            with trio.fail_after(10):  # the seed's first announcement reaches the nodes closest to it
                while not any(node.store.get(info.info_hash, trio.current_time(), random.Random()) for node in nodes):
                    await trio.sleep(0.02)
            magnet = parse_magnet(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")
            with trio.fail_after(30):
                result = await get_magnet(magnet, tmp_path, dht=local_config([nodes[22].port]),
                                          host=LOCALHOST, resume=None)
    assert result.complete
    assert (tmp_path / "through-the-dht.bin").read_bytes() == data


async def test_vanished_nodes_are_dropped_and_replaced():
    # Small buckets (k=2) fill up, so the observer keeps replacements waiting for a free place.
    count, k = 24, 2
    scopes: list[trio.CancelScope] = []
    nodes: list[DhtNode] = []

    async def keep(node: DhtNode, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            scopes.append(scope)
            await node.run(task_status=task_status)

    async with trio.open_nursery() as nursery:
        first = await nursery.start(keep, DhtNode(local_config(k=k), random.Random(0)))
        nodes.append(first)
        for i in range(1, count):
            config = local_config([first.port], k=k, good_for=0.0)  # every contact questionable at once
            nodes.append(await nursery.start(keep, DhtNode(config, random.Random(i))))
        with trio.fail_after(10):
            for node in nodes:
                await node.bootstrapped.wait()
        observer = nodes[-1]
        table = observer.tables[4]
        for node in nodes[:-1]:  # let it hear of everyone, so its buckets overflow into replacements
            await observer.ping((LOCALHOST, node.port))
        before = {c.node_id for c in table.contacts()}
        waiting = {c.node_id for b in table.buckets for c in b.replacements}
        assert waiting, "the test needs full buckets with replacements"
        vanished = [n for n in nodes[:-1] if n.node_id in before][:4]
        for node in vanished:
            scopes[nodes.index(node)].cancel()
        await wait_all_tasks_blocked()  # they have closed their sockets
        for _ in range(table.max_failures):  # this many unanswered pings make a contact bad
            await observer.maintain()
        after = {c.node_id for c in table.contacts()}
        assert not after & {n.node_id for n in vanished}
        assert after & waiting  # replacements moved in
        assert len(after) >= len(before) - len(vanished) // 2
        alive = [n for n in nodes[:-1] if n not in vanished]
        await alive[3].announce(bytes(20), 6881)
        assert (LOCALHOST, 6881) in (await observer.get_peers(bytes(20))).peers
        nursery.cancel_scope.cancel()
