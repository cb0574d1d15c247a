"""A BEP 16 super-seed in whole swarms: simulated torrentish leechers, and aria2 and libtorrent
leechers over loopback; and how scenarios and the command line turn it on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import require_tool
from tests.support.data import assert_identical, make_payload, make_torrent
from torrentish.engine.super_seeding import SuperSeeding
from torrentish.swarm.runner_sim import run_sim
from torrentish.swarm.scenario import Scenario, ScenarioError, apply_overrides, scenario_from_dict

MiB = 2**20
DEADLINE = 60


def small(**flags) -> Scenario:
    """1 seed + 8 leechers, 2 MiB in 32 pieces, equal caps: T_min = 4 s (the seed's term)."""
    base = dict(leechers=8, size=2 * MiB, piece_size=64 * 1024, up=MiB // 2, seed_up=MiB // 2,
                down=2 * MiB, latency=0.01, time_limit=600.0)
    base.update(flags)
    return apply_overrides(Scenario(name="small"), **base)


def test_each_piece_leaves_a_super_seed_about_once(monkeypatch):
    served: list[tuple[int, int]] = []  # blocks the seed agreed to send while super-seeding
    may_serve = SuperSeeding.may_serve

    def recording(self, peer, index, begin):
        allowed = may_serve(self, peer, index, begin)
        if allowed and self.active:
            served.append((index, id(peer)))
        return allowed

    monkeypatch.setattr(SuperSeeding, "may_serve", recording)
    result = run_sim(small(super_seed=True))
    assert result.finished
    pieces_sent = {index for index, _ in served}
    copies = len({(index, peer) for index, peer in served})
    # Every piece went out while super-seeding, and hardly any twice (a peer choked half-way
    # through a piece leaves the rest of it to the next one).
    assert len(pieces_sent) >= 30 and copies <= 1.1 * len(pieces_sent)
    summary = result.summary()
    # So the swarm holds a whole copy about when the seed could have sent exactly one.
    assert summary["first_full_copy"] <= 1.15 * summary["t_min"] + 1
    plain = run_sim(small(super_seed=False))
    assert summary["last_completion"] < plain.summary()["last_completion"]


def test_a_super_seed_run_is_reproducible():
    first, second = run_sim(small(super_seed=True)), run_sim(small(super_seed=True))
    assert first.summary() == second.summary()


def test_scenarios_turn_super_seeding_on_per_seed_group():
    groups = [{"name": "s", "role": "seed", "super_seed": True}, {"name": "l", "count": 3}]
    s = scenario_from_dict({"group": groups})
    assert [g.super_seed for g in s.groups] == [True, False]
    s = scenario_from_dict({"super_seed": True, "group": [{"role": "seed"}, {"count": 3}]})
    assert [g.super_seed for g in s.groups] == [True, False]
    assert [g.super_seed for g in apply_overrides(s, super_seed=False).groups] == [False, False]
    with pytest.raises(ScenarioError, match="super_seed is for seed groups"):
        scenario_from_dict({"group": [{"role": "seed"}, {"super_seed": True}]})
    with pytest.raises(ScenarioError, match="true or false"):
        scenario_from_dict({"super_seed": "yes", "group": [{"role": "seed"}, {}]})
    with pytest.raises(ScenarioError, match="not an engine setting"):
        scenario_from_dict({"engine": {"super_seed": True}, "group": [{"role": "seed"}, {}]})


def test_the_flash_crowd_benchmark_and_the_default_super_seed():
    from torrentish.swarm.scenario import load_scenario

    root = Path(__file__).resolve().parent.parent
    scenario = load_scenario(root / "bench" / "swarm" / "flash-crowd.toml")
    assert [g.super_seed for g in scenario.groups if g.role == "seed"] == [True]
    assert [g.super_seed for g in Scenario().groups] == [True, False]


# ------------------------------------------------------------- reference leechers (loopback)
@pytest.fixture
def seeded(tmp_path: Path, tracker):
    """A payload, its torrent (announcing to the test tracker) and its hash."""
    payload = make_payload("single", tmp_path / "seed")
    path = tmp_path / f"{payload.name}.torrent"
    return payload, path, make_torrent(payload, path, announce=tracker.announce_url)


def super_seed(torrent: Path, data: Path, port: int, logs: Path):
    from tests.test_interop import torrentish

    return torrentish("torrentish-super-seed",
                      ["seed", torrent, "--data", data, "--port", port, "--super-seed", "--no-lsd"], logs)


@pytest.mark.interop
@pytest.mark.timeout(DEADLINE * 2)
def test_libtorrent_leecher_completes_from_a_super_seed(seeded, tmp_path, logs, port_factory):
    require_tool("libtorrent")
    from tests.support.lt import LtSession

    payload, path, _ = seeded
    seed_port = port_factory()
    with super_seed(path, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with LtSession(logs / "lt.log", port=port_factory()) as session:
            handle = session.leech(path, tmp_path / "lt")
            session.connect_peer(handle, ("127.0.0.1", seed_port))
            session.wait_seeding(handle, DEADLINE, on_poll=seed.check_alive)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")


@pytest.mark.interop
@pytest.mark.timeout(DEADLINE * 2)
def test_aria2_leecher_completes_from_a_super_seed(seeded, tmp_path, logs, tracker, port_factory):
    require_tool("aria2c")
    from tests.support.aria2 import aria2_leech

    payload, path, info_hash = seeded
    seed_port = port_factory()
    tracker.add_peer(info_hash, "127.0.0.1", seed_port)  # aria2 finds peers only this way
    with super_seed(path, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with aria2_leech(path, tmp_path / "aria2", port_factory(), logs) as leech:
            leech.wait_complete(DEADLINE)
    assert_identical(payload, tmp_path / "aria2" / payload.name, "aria2's download")
