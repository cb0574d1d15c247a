"""--real swarms: one process per peer over real TCP, on loopback and on network namespaces."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import in_ci
from torrentish.swarm import netns
from torrentish.swarm.runner_real import run_real
from torrentish.swarm.scenario import Scenario, apply_overrides

MiB = 2**20


def tiny(**flags) -> Scenario:
    """1 seed + 2 leechers, 2 MiB at 2 MiB/s each: about a second of transfer."""
    # A normal seed: a super-seed's token-bucket burst (256 KiB) can beat the fluid bound here.
    base = dict(leechers=2, size=2 * MiB, piece_size=64 * 1024, up=2 * MiB, seed_up=2 * MiB,
                down=8 * MiB, latency=0.0, time_limit=60.0, super_seed=False)
    base.update(flags)
    return apply_overrides(Scenario(name="tiny"), **base)


def _check(result, mode: str) -> None:
    assert result.mode == mode and result.finished, result.notes
    leechers = result.leechers()
    assert all(p.completed is not None and p.downloaded >= 2 * MiB for p in leechers)
    # Real time: no faster than the bound (1 s), and not wildly slower.
    assert 1.0 <= result.summary()["last_over_t_min"] < 10
    assert result.series.time


@pytest.mark.slow
def test_a_loopback_swarm_with_rate_limits(tmp_path):
    result = run_real(tiny(), work_dir=tmp_path)
    _check(result, "real (loopback)")
    seed = next(p for p in result.peers if p.role == "seed")
    assert seed.uploaded >= 2 * MiB


@pytest.mark.slow
def test_a_namespace_swarm_with_tc_caps(tmp_path):
    problem = netns.available()
    if problem:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)
    result = run_real(tiny(), netns=True, work_dir=tmp_path)
    _check(result, "real (netns)")
    assert "tc_dropped_packets" in result.stats
    # All of this run's namespaces are removed (other runs on the machine may have their own).
    assert {n for n in _namespaces() if n.startswith(result.stats["netns_prefix"])} == set()


def _namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


@pytest.mark.interop
@pytest.mark.slow
def test_libtorrent_peers_join_a_real_swarm(tmp_path):
    from tests.support import require_tool

    require_tool("libtorrent")
    s = tiny(leechers=2)
    s.groups[0].client = "libtorrent"  # a libtorrent seed
    from torrentish.swarm.scenario import Group

    s.groups.append(Group(name="lt", count=1, up=2 * MiB, down=8 * MiB, latency=0.0, client="libtorrent"))
    result = run_real(s, work_dir=tmp_path)
    _check(result, "real (loopback)")
    by_client = {p.name: p.client for p in result.peers}
    assert by_client == {"seed-0": "libtorrent", "leechers-0": "torrentish", "leechers-1": "torrentish",
                         "lt-0": "libtorrent"}
    assert all(p.downloaded >= 2 * MiB for p in result.leechers())


def test_a_namespace_lab_makes_room_in_the_arp_table_and_gives_it_back():
    """The ARP table is shared by every namespace and capped at 1,024 entries by default: a lab
    of 51 fully meshed peers needs 2,550, and without room the last namespaces reached nobody
    (bench/README.md, Swarm lab)."""
    problem = netns.available()
    if problem:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)
    limits = [netns._NEIGH / f"gc_thresh{i}" for i in (1, 2, 3)]
    before = [p.read_text() for p in limits]
    lab = netns.NetnsLab()
    lab._make_room_for_neighbours(int(before[2]) + 5000)
    assert int(limits[2].read_text()) == int(before[2]) + 5000 == int(limits[1].read_text())
    lab.close()
    assert [p.read_text() for p in limits] == before
