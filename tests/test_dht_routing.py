"""The DHT's pure parts: routing table, lookups, tokens, the peer store, rate limits, saved state."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.services.dht.krpc import NodeInfo
from torrentish.services.dht.limits import RateLimiter
from torrentish.services.dht.lookup import Lookup
from torrentish.services.dht.peer_store import PeerStore
from torrentish.services.dht.routing import RoutingTable, distance, id_to_int
from torrentish.services.dht.state import load_state, save_state
from torrentish.services.dht.tokens import TokenIssuer

OWN = bytes(20)


def node_id(value: int) -> bytes:
    return value.to_bytes(20, "big")


def address(i: int) -> tuple[str, int]:
    return (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 6881)


# -- routing table ----------------------------------------------------------------------------------------


def test_only_nodes_that_answered_enter_and_never_ourselves():
    table = RoutingTable(OWN)
    assert table.heard_from(node_id(5), address(5), 0.0, responded=False) is None
    assert len(table) == 0
    table.heard_from(OWN, address(6), 0.0, responded=True)
    assert len(table) == 0
    table.heard_from(node_id(5), address(5), 0.0, responded=True)
    assert table.find(node_id(5)).address == address(5)


def test_the_bucket_with_our_id_splits_and_far_buckets_keep_replacements():
    table = RoutingTable(OWN, k=8)
    far = [node_id((1 << 159) + i) for i in range(12)]  # all in the half away from our id
    near = [node_id(i + 1) for i in range(8)]  # close to our id
    for i, nid in enumerate(far + near):
        table.heard_from(nid, address(i), 0.0, responded=True)
    assert len(table.buckets) >= 2
    assert sum(1 for c in table.contacts() if id_to_int(c.node_id) >= 1 << 159) == 8  # the far bucket is full
    far_bucket = table.bucket_for(far[0])
    assert [c.node_id for c in far_bucket.replacements] == far[8:]
    assert all(table.find(nid) for nid in near)


def test_a_full_bucket_asks_for_its_stale_contacts_to_be_pinged_and_bad_ones_are_replaced():
    table = RoutingTable(OWN, k=2, good_for=100.0, max_failures=2)
    a, b, c = node_id(1 << 159), node_id((1 << 159) + 1), node_id((1 << 159) + 2)
    # Fill the far half: first the bucket with our id splits away.
    table.heard_from(a, address(1), 0.0, responded=True)
    table.heard_from(b, address(2), 0.0, responded=True)
    assert table.heard_from(c, address(3), 50.0, responded=True) is None  # a and b are still good
    to_ping = table.heard_from(c, address(3), 150.0, responded=True)
    assert to_ping is not None and to_ping.node_id in (a, b)  # questionable now: ping the oldest
    table.failed(to_ping.node_id, 151.0)
    assert table.find(to_ping.node_id) is not None  # one failure is not yet bad
    table.failed(to_ping.node_id, 152.0)
    assert table.find(to_ping.node_id) is None and table.find(c) is not None  # the replacement moved in


def test_addresses_cannot_be_taken_over_and_public_ips_hold_one_contact():
    table = RoutingTable(OWN, good_for=100.0)
    table.heard_from(node_id(1), ("8.8.8.8", 1), 0.0, responded=True)
    table.heard_from(node_id(2), ("8.8.8.8", 1), 1.0, responded=True)  # another id at a good address
    assert table.find(node_id(2)) is None
    table.heard_from(node_id(3), ("8.8.8.8", 2), 1.0, responded=True)  # same public IP, other port
    assert table.find(node_id(3)) is None
    table.heard_from(node_id(4), ("127.0.0.1", 1), 1.0, responded=True)
    table.heard_from(node_id(5), ("127.0.0.1", 2), 1.0, responded=True)  # loopback: exempt
    assert table.find(node_id(4)) and table.find(node_id(5))
    table.heard_from(node_id(1), ("9.9.9.9", 1), 2.0, responded=True)  # a known id from elsewhere
    assert table.find(node_id(1)).address == ("8.8.8.8", 1)
    table.heard_from(node_id(6), ("8.8.8.8", 1), 500.0, responded=True)  # the old one went stale
    assert table.find(node_id(6)) is not None and table.find(node_id(1)) is None


@given(st.lists(st.tuples(st.integers(0, 2**160 - 1), st.booleans(), st.integers(0, 3)), max_size=300),
       st.integers(0, 2**160 - 1))
@settings(max_examples=100, deadline=None)
def test_table_invariants(events, target):
    table = RoutingTable(node_id(12345), k=4, restrict_ips=False)
    for step, (value, responded, failures) in enumerate(events):
        nid = node_id(value)
        table.heard_from(nid, address(value % 5000), float(step), responded=responded)
        for _ in range(failures):
            table.failed(nid, float(step))
    assert len(table.buckets) <= 160
    assert sum(len(b.contacts) for b in table.buckets) == len(table)
    for bucket in table.buckets:
        assert len(bucket.contacts) <= 4 and len(bucket.replacements) <= 4
        assert all(bucket.covers(id_to_int(c.node_id)) for c in bucket.contacts)
    assert len({c.address for c in table.contacts()}) == len(table)
    closest = table.closest(node_id(target), 6)
    healthy = [c for c in closest if not c.failures]
    assert healthy == sorted(healthy, key=lambda c: distance(c.node_id, node_id(target)))


def test_refresh_targets_fall_in_idle_buckets():
    rng = random.Random(0)
    table = RoutingTable(OWN, k=1)
    for i in range(5):
        table.heard_from(node_id(1 << (159 - i)), address(i), 0.0, responded=True)
    assert table.refresh_targets(100.0, rng, interval=900.0) == []
    targets = table.refresh_targets(1000.0, rng, interval=900.0)
    assert len(targets) == len(table.buckets)
    for target, bucket in zip(targets, table.buckets):
        assert bucket.covers(id_to_int(target))
    assert table.refresh_targets(1001.0, rng, interval=900.0) == []  # marked refreshed


# -- lookups -----------------------------------------------------------------------------------------------


class Network:
    """A simulated DHT: each node knows a random half of the others and answers with the k of
    them nearest the target; some nodes are dead."""

    def __init__(self, count: int, rng: random.Random, dead: float = 0.0):
        self.nodes = [NodeInfo(rng.randbytes(20), *address(i)) for i in range(count)]
        self.dead = {n.address for n in self.nodes if rng.random() < dead}
        self.known = {n.address: [m for m in self.nodes if rng.random() < 0.5] for n in self.nodes}

    def closest(self, target: bytes, k: int = 8, among=None) -> list[NodeInfo]:
        return sorted(among or self.nodes, key=lambda n: distance(n.node_id, target))[:k]


def run_lookup(network: Network, target: bytes, seeds: list[NodeInfo], rng: random.Random):
    """Drive a lookup to its end against the simulated network; returns it and every node mentioned."""
    lookup = Lookup(target, seeds, k=8, alpha=3, max_queries=300)
    mentioned = {n.address: n for n in seeds}
    while not lookup.done:
        batch = lookup.next_queries()
        assert 1 <= len(batch) <= 3
        rng.shuffle(batch)  # answers come back in any order
        for node in batch:
            if node.address in network.dead:
                lookup.failure(node.address)
                continue
            answer = network.closest(target, 8, among=network.known[node.address])
            mentioned.update((n.address, n) for n in answer)
            lookup.response(node.address, node.node_id, answer, token=b"t", values=[("1.1.1.1", 1)])
    return lookup, list(mentioned.values())


@given(st.integers(0, 2**32), st.floats(0.0, 0.3))
@settings(max_examples=60, deadline=None)
def test_lookup_ends_with_the_closest_live_nodes_it_heard_of(seed, dead):
    rng = random.Random(seed)
    network = Network(200, rng, dead)
    target = rng.randbytes(20)
    lookup, mentioned = run_lookup(network, target, rng.sample(network.nodes, 3), rng)
    live = [n for n in network.closest(target, len(mentioned), among=mentioned) if n.address not in network.dead]
    assert [n for n, token in lookup.closest_answered()] == live[:8]
    assert all(token == b"t" for _, token in lookup.closest_answered())
    assert lookup.peers == ([("1.1.1.1", 1)] if live else []) and lookup.queries <= 300


def test_lookup_with_complete_knowledge_finds_exactly_the_k_closest():
    rng = random.Random(7)
    network = Network(300, rng)
    network.known = {n.address: network.nodes for n in network.nodes}
    target = rng.randbytes(20)
    lookup, _ = run_lookup(network, target, rng.sample(network.nodes, 2), rng)
    assert [n for n, _ in lookup.closest_answered()] == network.closest(target, 8)
    assert lookup.queries < 60  # it converged rather than asking everyone


def test_lookup_ignores_answers_it_did_not_ask_for_and_bounds_candidates():
    rng = random.Random(1)
    target = rng.randbytes(20)
    seeds = [NodeInfo(rng.randbytes(20), *address(i)) for i in range(3)]
    lookup = Lookup(target, seeds, k=8, alpha=2, max_candidates=50, own_id=OWN)
    asked = lookup.next_queries()
    assert len(asked) == 2
    lookup.response(address(99), rng.randbytes(20), [NodeInfo(rng.randbytes(20), *address(100))])
    assert lookup.queries == 2 and address(100) not in {n.address for n in lookup.next_queries()}
    flood = [NodeInfo(rng.randbytes(20), *address(200 + i)) for i in range(500)]
    lookup.response(asked[0].address, asked[0].node_id, flood + [NodeInfo(OWN, *address(999))])
    assert len(lookup._candidates) <= 50
    assert address(999) not in lookup._candidates  # never ourselves


# -- tokens, the peer store, rate limits ------------------------------------------------------------------


def test_tokens_last_five_to_ten_minutes_and_are_bound_to_the_address():
    tokens = TokenIssuer(random.Random(0), now=0.0)
    token = tokens.token("10.0.0.1", 10.0)
    assert tokens.valid(token, "10.0.0.1", 10.0)
    assert not tokens.valid(token, "10.0.0.2", 10.0)
    assert tokens.valid(token, "10.0.0.1", 299.0 + 300.0)  # one rotation later: the previous secret
    assert not tokens.valid(token, "10.0.0.1", 601.0)  # two rotations: gone
    assert not tokens.valid(b"", "10.0.0.1", 10.0)
    fresh = TokenIssuer(random.Random(0), now=0.0)
    fresh.token("10.0.0.1", 0.0)
    assert not fresh.valid(fresh.token("10.0.0.1", 0.0), "10.0.0.1", 10_000.0)  # long asleep


def test_peer_store_bounds_and_expiry():
    rng = random.Random(0)
    store = PeerStore(max_torrents=2, max_peers=3, ttl=100.0)
    for i in range(5):
        store.add(b"a" * 20, ("10.0.0.1", 1000 + i), float(i))
    assert sorted(store.get(b"a" * 20, 5.0, rng)) == [("10.0.0.1", 1002), ("10.0.0.1", 1003), ("10.0.0.1", 1004)]
    assert len(store.get(b"a" * 20, 5.0, rng, count=2)) == 2
    store.add(b"b" * 20, ("10.0.0.2", 1), 6.0)
    store.add(b"c" * 20, ("10.0.0.3", 1), 7.0)  # a third torrent: the stalest goes
    assert store.get(b"a" * 20, 8.0, rng) == [] and len(store) == 2
    assert store.get(b"b" * 20, 200.0, rng) == []  # expired


def test_rate_limits_per_source_and_in_total():
    limiter = RateLimiter(per_source=1.0, burst=2.0, total=100.0, total_burst=3.0, max_sources=2)
    assert limiter.allow("a", 0.0) and limiter.allow("a", 0.0)
    assert not limiter.allow("a", 0.0)  # its burst is spent
    assert limiter.allow("b", 0.0)
    assert not limiter.allow("c", 0.0)  # the total burst is spent too
    assert limiter.allow("a", 1.0)  # a second later: one more token each
    for i in range(10):
        limiter.allow(f"s{i}", 10.0)
    assert len(limiter._sources) == 2  # bounded: the least recent sources are forgotten
    assert limiter.dropped >= 2


# -- saved state -------------------------------------------------------------------------------------------


def test_state_round_trip_and_damaged_files(tmp_path):
    path = tmp_path / "dht.state"
    nodes = [NodeInfo(node_id(1), "10.0.0.1", 6881), NodeInfo(node_id(2), "2001:db8::1", 6881)]
    save_state(path, node_id(7), nodes)
    state = load_state(path)
    assert state.node_id == node_id(7) and list(state.nodes) == nodes
    for junk in (b"", b"garbage", b"le", b"d2:id3:abc5:nodes5:xxxxxe", b"x" * 70_000):
        path.write_bytes(junk)
        damaged = load_state(path)
        assert damaged.node_id is None and damaged.nodes == ()
    assert load_state(tmp_path / "missing").nodes == () and load_state(None).node_id is None


@given(st.binary(max_size=400) | st.builds(lambda n: b"d2:id20:" + bytes(20) + b"5:nodes" + n, st.binary(max_size=80)))
@settings(max_examples=150, deadline=None)
def test_any_state_file_loads_as_a_state_or_a_fresh_start(data):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "dht.state"
        path.write_bytes(data)
        state = load_state(path)
    assert state.node_id is None or len(state.node_id) == 20
    assert all(len(n.node_id) == 20 and 0 < n.port < 65536 for n in state.nodes)
