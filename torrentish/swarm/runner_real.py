"""Run a scenario for real: one process per peer, real TCP, real time.

Two networks:
- loopback (default): every peer on 127.0.0.1, capacities enforced by each client's own rate
  limits (torrentish's token buckets; libtorrent's per-torrent limits). No latency.
- namespaces (``netns=True``, root): a namespace per peer on a bridge, capacities by ``tc tbf``
  (torrentish.swarm.netns), so every client is limited the same way, by the kernel.

Peers are started first and told to arrive only once all of them are up, so start-up time does not
count. Each learns, at its arrival, the addresses of up to ``tracker_peers`` peers that arrived
before it (a tracker's answer); later arrivals dial it. Reference clients join through a group's
``client`` (torrentish.swarm.reference_peers), speaking the same line protocol as real_peer.
"""

from __future__ import annotations

import contextlib

import json
import queue
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from torrentish.core.bitfield import Bitfield
from torrentish.swarm import netns as netns_lab
from torrentish.swarm import reference_peers
from torrentish.swarm.reference_peers import RealSwarmError
from torrentish.swarm.bounds import scenario_bound
from torrentish.swarm.results import PeerResult, Series, SwarmResult
from torrentish.swarm.scenario import PeerSpec, Scenario
from torrentish.swarm.synthetic import SyntheticContent

START_MARGIN = 1.0  # seconds between "go" and the first arrival
READY_TIMEOUT = 60.0
PORT = 6881


@dataclass
class _Process:
    spec: PeerSpec
    popen: subprocess.Popen
    host: str
    port: int | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    arrived: float | None = None
    completed: float | None = None
    left: float | None = None
    progress: dict | None = None
    stats: dict | None = None
    exited: bool = False  # its stdout ended

    def send(self, message: dict) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(message) + "\n").encode())
        self.popen.stdin.flush()


def _pump(process: _Process) -> None:
    """Reader thread: every stdout line of the process, parsed, into its queue."""
    assert process.popen.stdout is not None
    for line in process.popen.stdout:
        try:
            process.events.put(json.loads(line))
        except ValueError:
            continue
    process.events.put({"event": "exit"})


def _settings(scenario: Scenario, spec: PeerSpec, netns: bool) -> dict:
    group = spec.group
    settings = dict(upload_slots=scenario.slots, rechoke_interval=scenario.rechoke_interval,
                    optimistic_every=scenario.optimistic_every,
                    max_peers_per_torrent=scenario.max_peers,
                    super_seed=spec.is_seed and group.super_seed, **scenario.engine)
    if not netns:  # on loopback the client's own limits are the access link
        settings.update(max_upload_rate=int(group.up), max_download_rate=int(group.down))
    return settings


def run_real(scenario: Scenario, *, netns: bool = False, work_dir: Path, progress=None) -> SwarmResult:
    """``progress(swarm time, leechers done, leechers)`` is called at every sample."""
    problem = netns_lab.available() if netns else None
    if problem:
        raise RealSwarmError(f"--netns: {problem}")

    work_dir.mkdir(parents=True, exist_ok=True)
    specs = scenario.peers()
    content = SyntheticContent(scenario.file_size, scenario.piece_size,
                               salt=f"swarm/{scenario.seed}".encode())
    notes: list[str] = []
    run_stats: dict = {}
    lab = netns_lab.NetnsLab() if netns else None
    processes: list[_Process] = []
    started = time.perf_counter()
    try:
        if lab is not None:
            lab.__enter__()
        for spec in specs:
            group = spec.group
            prefix: list[str] = []
            host = "127.0.0.1"
            if lab is not None:
                node = lab.add_node(spec.index, up=group.up, down=group.down, latency=group.latency)
                prefix, host = lab.exec_prefix(node), node.address
            config = {
                "host": host, "port": PORT if lab is not None else 0,
                "file_size": scenario.file_size, "piece_size": scenario.piece_size,
                "salt": f"swarm/{scenario.seed}", "seed": spec.is_seed, "verify": scenario.verify,
                "strategy": scenario.strategy, "rng": f"peer/{scenario.seed}/{spec.index}",
                "settings": _settings(scenario, spec, netns), "free_rider": spec.free_rider,
                "departure": group.departure, "linger": group.linger,
                "sample_interval": scenario.sample_interval,
                "up": group.up, "down": group.down, "netns": netns,
            }
            command = reference_peers.command(group.client, config, content, work_dir / spec.name)
            log = open(work_dir / f"{spec.name}.log", "wb")
            popen = subprocess.Popen(prefix + command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log)
            log.close()
            process = _Process(spec, popen, host)
            threading.Thread(target=_pump, args=(process,), daemon=True).start()
            processes.append(process)
        if lab is not None and lab.latency_emulated is False:
            notes.append("latency not emulated: this kernel has no netem")
        if lab is None and any(s.group.latency for s in specs):
            notes.append("latency not emulated on loopback")
        _wait_ready(processes, work_dir)
        series, end, finished = _drive(scenario, processes, content.info.num_pieces, progress)
        if lab is not None:
            run_stats["tc_dropped_packets"] = lab.dropped_packets()
            run_stats["netns_prefix"] = lab.prefix  # so a caller can check they were all removed
    finally:
        for process in processes:
            _stop(process)
        if lab is not None:
            lab.close()
    wall = time.perf_counter() - started
    peers = []
    for p in processes:
        group, stats = p.spec.group, p.stats or {}
        peers.append(PeerResult(
            name=p.spec.name, group=group.name, role=group.role, client=group.client,
            free_rider=p.spec.free_rider, up_capacity=group.up, down_capacity=group.down,
            arrived=p.spec.arrival, completed=p.completed,
            left=p.left if p.left is not None and p.left < end else None,
            uploaded=stats.get("uploaded", 0), downloaded=stats.get("downloaded", 0),
            duplicate=stats.get("duplicate", 0)))
    mode = "real (netns)" if netns else "real (loopback)"
    return SwarmResult(scenario=scenario.to_dict(), mode=mode, bound=scenario_bound(scenario),
                       peers=peers, series=series, wall_seconds=wall, swarm_seconds=end,
                       finished=finished, notes=notes, stats=run_stats)


def _wait_ready(processes: list[_Process], work_dir: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    for p in processes:
        while p.port is None:
            try:
                event = p.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RealSwarmError(f"{p.spec.name} did not start in {READY_TIMEOUT:.0f} s "
                                     f"(see {work_dir / (p.spec.name + '.log')})") from None
            if event["event"] == "ready":
                p.port = event["port"]
            elif event["event"] == "exit":
                raise RealSwarmError(f"{p.spec.name} exited at start "
                                     f"(see {work_dir / (p.spec.name + '.log')})")


def _drive(scenario: Scenario, processes: list[_Process], num_pieces: int, progress):
    """Send everyone their arrival; follow events until all leechers are done or time runs out."""
    t0 = time.monotonic() + START_MARGIN
    rng = random.Random(f"tracker/{scenario.seed}")
    order = sorted(processes, key=lambda p: (p.spec.arrival, p.spec.index))
    for k, p in enumerate(order):
        earlier = [(q.host, q.port) for q in order[:k]]
        if len(earlier) > scenario.tracker_peers:
            earlier = rng.sample(earlier, scenario.tracker_peers)
        p.send({"cmd": "go", "at": t0 + p.spec.arrival, "peers": earlier})
    # Re-announces, as in the simulation (runner_sim._reannounce): every announce_interval after
    # its arrival a present peer hears of a sample of the others. Without them a peer that
    # arrived last was known only to the peers it dialed itself.
    announce_due = {id(p): t0 + p.spec.arrival + scenario.announce_interval for p in processes}
    leechers = [p for p in processes if not p.spec.is_seed]
    series = Series()
    next_sample = t0 + scenario.sample_interval
    last_verified = last_up = 0
    deadline = t0 + scenario.time_limit
    while True:
        now = time.monotonic()
        for p in processes:
            _drain(p, t0)
        if all(p.completed is not None for p in leechers):
            return series, time.monotonic() - t0, True
        if now >= deadline:
            return series, now - t0, False
        for p in processes:
            if now >= announce_due[id(p)]:
                announce_due[id(p)] += scenario.announce_interval
                if _present(p) and not p.exited:
                    others = [(q.host, q.port) for q in processes if q is not p and _present(q)]
                    if len(others) > scenario.tracker_peers:
                        others = rng.sample(others, scenario.tracker_peers)
                    with contextlib.suppress(OSError):  # it may be exiting right now
                        p.send({"cmd": "peers", "peers": others})
        if now >= next_sample:
            verified, up = _sample(series, processes, now - t0, num_pieces, scenario)
            interval = scenario.sample_interval
            series.throughput.append((verified - last_verified) / interval)
            capacity = sum(p.spec.group.up for p in processes if _present(p))
            series.upload_utilisation.append(
                (up - last_up) / (capacity * interval)
                if capacity and all(p.spec.group.up for p in processes if _present(p)) else None)
            last_verified, last_up = verified, up
            next_sample += interval
            if progress is not None:
                progress(now - t0, sum(p.completed is not None for p in leechers), len(leechers))
        dead = [p for p in processes if p.exited and p.left is None]
        if dead:
            raise RealSwarmError(f"{dead[0].spec.name} died (exit {dead[0].popen.poll()})")
        time.sleep(0.05)


def _present(p: _Process) -> bool:
    return p.arrived is not None and p.left is None


def _drain(p: _Process, t0: float) -> None:
    while True:
        try:
            event = p.events.get_nowait()
        except queue.Empty:
            return
        kind = event["event"]
        if kind == "arrived":
            p.arrived = event["t"] - t0
        elif kind == "completed":
            p.completed = event["t"] - t0
        elif kind == "left":
            p.left = event["t"] - t0
        elif kind == "progress":
            p.progress = event
        elif kind == "stats":
            p.stats = event
        elif kind == "exit":
            p.exited = True


def _sample(series: Series, processes: list[_Process], t: float, num_pieces: int,
            scenario: Scenario) -> tuple[int, int]:
    avail = [0] * num_pieces
    seeds = 0
    verified = up = 0
    for p in processes:
        progress = p.progress
        if progress is None:
            continue
        verified += progress["verified"]
        up += progress["uploaded"]
        if _present(p) and p.spec.is_seed:
            seeds += 1
        elif _present(p):
            for index in Bitfield(num_pieces, bytes.fromhex(progress["have"])):
                avail[index] += 1
    series.time.append(t)
    series.availability_min.append(min(avail) + seeds)
    series.availability_mean.append(sum(avail) / num_pieces + seeds)
    series.leecher_copies_min.append(min(avail))
    series.completed.append(sum(1 for p in processes if p.completed is not None))
    series.present.append(sum(1 for p in processes if _present(p)))
    return verified, up


def _stop(p: _Process) -> None:
    """Close stdin (the peer leaves and prints its stats), then make sure it is gone."""
    try:
        if p.popen.stdin is not None:
            p.popen.stdin.close()
    except OSError:
        pass
    try:
        p.popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.popen.kill()
        p.popen.wait()
    deadline = time.monotonic() + 2
    while p.stats is None and time.monotonic() < deadline:
        try:
            event = p.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event["event"] == "stats":
            p.stats = event
        elif event["event"] == "exit":
            break
