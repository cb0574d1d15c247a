"""Run a scenario in simulation: every peer a full torrentish engine, all in one process, over the
simulated network (torrentish.net.sim) in virtual time (trio's MockClock with autojump).

Reproducibility. A run is a function of the scenario (its seed included) and of trio's task order,
which trio randomises on purpose. We take all randomness from generators seeded from the scenario,
keep every piece of state that decides anything in insertion-ordered containers, hash pieces in
the event loop (a worker thread would let the virtual clock jump while it hashes), and run trio in
its deterministic-scheduling mode, seeding its scheduler with ``schedule_seed`` (by default the
scenario's seed). Same scenario, same seed: the same results, byte for byte. Varying only
``schedule_seed`` measures how much the outcome depends on task order (``spread``).
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import trio
import trio.testing

from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.net.sim import SimConfig, SimNetwork, SimNode
from torrentish.swarm.bounds import scenario_bound
from torrentish.swarm.results import PeerResult, Series, SwarmResult
from torrentish.swarm.scenario import PeerSpec, Scenario
from torrentish.swarm.synthetic import SyntheticContent, SyntheticStorage
from torrentish.wire.peer_id import make_peer_id

PORT = 6881


@contextlib.contextmanager
def deterministic_scheduling(seed: int) -> Iterator[bool]:
    """Make trio's run-queue order a function of ``seed`` (yields False if this trio cannot).

    trio shuffles each batch of runnable tasks with a module-level Random; the switch it offers
    for Hypothesis sorts the batch by task creation order first, so a seeded generator gives the
    same order every time. Both are private: if a trio release renames them, runs still work but
    are reproducible only statistically (and a warning says so).
    """
    core = getattr(getattr(trio, "_core", None), "_run", None)
    generator = getattr(core, "_r", None)
    if core is None or generator is None or not hasattr(core, "_ALLOW_DETERMINISTIC_SCHEDULING"):
        warnings.warn("this trio has no deterministic scheduling: runs will vary", stacklevel=2)
        yield False
        return
    saved = (core._ALLOW_DETERMINISTIC_SCHEDULING, generator.getstate())
    core._ALLOW_DETERMINISTIC_SCHEDULING = True
    generator.seed(f"trio-schedule/{seed}")
    try:
        yield True
    finally:
        core._ALLOW_DETERMINISTIC_SCHEDULING, state = saved
        generator.setstate(state)


def sim_host(index: int) -> str:
    n = index + 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class SimTracker:
    """Who is in the swarm; an announce returns a random sample of the others.

    The present peers are kept in a list in the order they joined, and an announce samples a
    view of it that skips the announcing peer: building the list of the others for every
    announce made a 10,000-peer start quadratic. ``random.sample`` draws indices from the
    length alone, so the view gives the same answers as that list did.
    """

    def __init__(self, rng: random.Random, want: int):
        self._rng = rng
        self._want = want
        self._order: list[int] = []  # indices of present peers, in the order they joined
        self._position: dict[int, int] = {}  # index -> its place in _order
        self._address: dict[int, tuple[str, int]] = {}

    def join(self, spec: PeerSpec) -> None:
        if spec.index in self._address:
            return
        self._position[spec.index] = len(self._order)
        self._order.append(spec.index)
        self._address[spec.index] = (sim_host(spec.index), PORT)

    def leave(self, spec: PeerSpec) -> None:
        if self._address.pop(spec.index, None) is None:
            return
        place = self._position.pop(spec.index)
        del self._order[place]
        for index in self._order[place:]:  # rare (a departure), and a memmove-sized walk
            self._position[index] -= 1

    def announce(self, spec: PeerSpec) -> list[tuple[str, int]]:
        others = _Others(self._order, self._address, self._position.get(spec.index))
        if len(others) <= self._want:
            return list(others)
        return self._rng.sample(others, self._want)


class _Others(Sequence):
    """The present peers' addresses in joining order, without the one at ``skip``."""

    __slots__ = ("_order", "_address", "_skip")

    def __init__(self, order: list[int], address: dict[int, tuple[str, int]], skip: int | None):
        self._order, self._address, self._skip = order, address, skip

    def __len__(self) -> int:
        return len(self._order) - (self._skip is not None)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self._skip is not None and i >= self._skip:
            i += 1
        return self._address[self._order[i]]


@dataclass
class _Peer:
    spec: PeerSpec
    node: SimNode | None = None
    torrent: Torrent | None = None
    arrived: float | None = None
    completed: float | None = None
    left: float | None = None
    pieces: int = 0


class _Swarm:
    """Swarm-wide bookkeeping fed synchronously by the peers' storages."""

    def __init__(self, scenario: Scenario, num_pieces: int):
        self.avail = [0] * num_pieces  # copies held by present leechers
        self.full_copies = 0  # present seeds
        self.verified_bytes = 0
        self.piece_size = scenario.piece_size
        self.leechers_left = sum(g.count for g in scenario.groups if g.role == "leecher")
        self.completed = 0
        self.all_done = trio.Event()

    def piece_added(self, peer: _Peer, index: int) -> None:
        self.avail[index] += 1
        peer.pieces += 1
        self.verified_bytes += self.piece_size

    def peer_left(self, peer: _Peer) -> None:
        if peer.spec.is_seed:
            self.full_copies -= 1
        elif peer.torrent is not None:
            for index in peer.torrent.have:
                self.avail[index] -= 1


def _make_free_rider(torrent: Torrent) -> None:
    """Never unchoke anyone (a free rider still downloads)."""
    torrent.uploads.free_rider = True


Progress = Callable[[float, int, int], None]  # (swarm time, leechers done, leechers in all)


async def _run(scenario: Scenario, progress: Progress | None) -> tuple[list[_Peer], Series, SimNetwork, float, bool]:
    content = SyntheticContent(scenario.file_size, scenario.piece_size,
                               salt=f"swarm/{scenario.seed}".encode())
    info = content.info
    network = SimNetwork(SimConfig(quantum=scenario.sim.quantum, rx_lowat=scenario.sim.rx_lowat,
                                   rx_hold=scenario.sim.rx_hold))
    tracker = SimTracker(random.Random(f"tracker/{scenario.seed}"), scenario.tracker_peers)
    peers = [_Peer(spec) for spec in scenario.peers()]
    swarm = _Swarm(scenario, info.num_pieces)
    series = Series()

    async def run_peer(peer: _Peer) -> None:
        spec, group = peer.spec, peer.spec.group
        await trio.sleep_until(spec.arrival)
        host = sim_host(spec.index)
        peer.node = node = network.add_node(host, up=group.up, down=group.down, latency=group.latency)
        settings = Settings(upload_slots=scenario.slots, rechoke_interval=scenario.rechoke_interval,
                            optimistic_every=scenario.optimistic_every,
                            max_peers_per_torrent=scenario.max_peers,
                            max_connections=max(200, scenario.max_peers),
                            super_seed=spec.is_seed and group.super_seed, **scenario.engine)
        rng = random.Random(f"peer/{scenario.seed}/{spec.index}")
        storage = SyntheticStorage(content, complete=spec.is_seed, verify=scenario.verify,
                                   on_piece=lambda index: swarm.piece_added(peer, index))
        peer.arrived = trio.current_time()
        try:
            # MSE keys and pads from the scenario's seed too: pad lengths change byte counts.
            key_rng = random.Random(f"keys/{scenario.seed}/{spec.index}")
            async with open_client(host=host, port=PORT, network=node, settings=settings, rng=rng,
                                   peer_id=make_peer_id(rng), key_rng=key_rng) as client:
                tracker.join(spec)  # listening now; an announce registers and returns others
                torrent = peer.torrent = await client.add_torrent(
                    info, storage, peers=tracker.announce(spec), strategy=scenario.strategy,
                    upload_only=spec.is_seed)
                if spec.free_rider:
                    _make_free_rider(torrent)
                if spec.is_seed:
                    swarm.full_copies += 1
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_reannounce, scenario, tracker, spec, torrent)
                    await torrent.completed.wait()
                    if not spec.is_seed:
                        peer.completed = trio.current_time()
                        swarm.completed += 1
                        swarm.leechers_left -= 1
                        if not swarm.leechers_left:
                            swarm.all_done.set()
                    if group.departure == "linger":
                        await trio.sleep(group.linger)
                    elif group.departure == "stay":
                        await trio.sleep_forever()
                    nursery.cancel_scope.cancel()
                tracker.leave(spec)
                swarm.peer_left(peer)
                peer.left = trio.current_time()
        finally:
            tracker.leave(spec)

    async def sample() -> None:
        last_bytes, last_up = 0, 0
        interval = scenario.sample_interval
        n = len(swarm.avail)
        while True:
            await trio.sleep(interval)
            present = [p for p in peers if p.arrived is not None and p.left is None and p.node]
            up = sum(p.node.bytes_up for p in peers if p.node)
            capacity = sum(p.node.up for p in present)
            series.time.append(trio.current_time())
            series.throughput.append((swarm.verified_bytes - last_bytes) / interval)
            series.upload_utilisation.append(
                (up - last_up) / (capacity * interval) if 0 < capacity < float("inf") else None)
            rarest = min(swarm.avail)
            series.availability_min.append(rarest + swarm.full_copies)
            series.leecher_copies_min.append(rarest)
            series.availability_mean.append(sum(swarm.avail) / n + swarm.full_copies)
            series.completed.append(swarm.completed)
            series.present.append(len(present))
            last_bytes, last_up = swarm.verified_bytes, up
            if progress is not None:
                progress(trio.current_time(), swarm.completed, swarm.completed + swarm.leechers_left)

    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        nursery.start_soon(sample)
        for peer in peers:
            nursery.start_soon(run_peer, peer)
        with trio.move_on_after(scenario.time_limit):
            await swarm.all_done.wait()
        end = trio.current_time()
        nursery.cancel_scope.cancel()
    return peers, series, network, end, swarm.all_done.is_set()


async def _reannounce(scenario: Scenario, tracker: SimTracker, spec: PeerSpec, torrent: Torrent) -> None:
    while True:
        await trio.sleep(scenario.announce_interval)
        if len(torrent.peers) < scenario.max_peers:
            torrent.add_peers(tracker.announce(spec))


def run_sim(scenario: Scenario, *, schedule_seed: int | None = None,
            progress: Progress | None = None) -> SwarmResult:
    """Run the scenario to the end (every leecher done, or the time limit) and collect the results."""
    started = time.perf_counter()
    clock = trio.testing.MockClock(autojump_threshold=0)
    thresholds = gc.get_threshold()
    # Millions of short-lived objects, few cycles: collecting less often saves 10-20% of the time.
    gc.set_threshold(100_000, 50, 100)
    try:
        with deterministic_scheduling(scenario.seed if schedule_seed is None else schedule_seed) as exact:
            peers, series, network, end, finished = trio.run(_run, scenario, progress, clock=clock)
    finally:
        gc.set_threshold(*thresholds)
    wall = time.perf_counter() - started
    results = []
    for peer in peers:
        spec, group, torrent, node = peer.spec, peer.spec.group, peer.torrent, peer.node
        results.append(PeerResult(
            name=spec.name, group=group.name, role=group.role, client="torrentish",
            free_rider=spec.free_rider, up_capacity=group.up, down_capacity=group.down,
            arrived=spec.arrival, completed=peer.completed, left=peer.left,
            uploaded=torrent.uploaded if torrent else 0,
            downloaded=torrent.downloaded if torrent else 0,
            duplicate=torrent.wasted if torrent else 0,
            wire_up=node.bytes_up if node else 0, wire_down=node.bytes_down if node else 0,
        ))
    notes = [] if exact else ["trio's scheduler could not be seeded: results vary between runs"]
    others = sorted({g.client for g in scenario.groups} - {"torrentish"})
    if others:
        notes.append(f"{', '.join(others)} peers run as torrentish in simulation (they need --real)")
    stats = {"ticks": network.ticks, "reallocations": network.reallocations,
             "wire_bytes": network.delivered,
             "schedule_seed": scenario.seed if schedule_seed is None else schedule_seed}
    return SwarmResult(scenario=scenario.to_dict(), mode="sim", bound=scenario_bound(scenario),
                       peers=results, series=series, wall_seconds=wall, swarm_seconds=end,
                       finished=finished, notes=notes, stats=stats)
