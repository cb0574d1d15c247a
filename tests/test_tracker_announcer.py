"""The announce loop: BEP 12 tiers, events, intervals, backoff; then real transfers on loopback."""

from __future__ import annotations

import random
from functools import partial
from types import SimpleNamespace

import pytest
import trio

from torrentish import events as ev
from torrentish.events import EventBus
from torrentish.services.tracker.announcer import AnnounceSettings, Announcer, TrackerTiers, tracker_service
from torrentish.services.tracker.protocol import AnnounceResponse, TrackerError, TrackerFailure
from torrentish.services.tracker.server import TrackerConfig, TrackerServer

HASH = b"\x07" * 20


class FakeTracker:
    """A transport: answers per URL from a script, records every announce with its time."""

    def __init__(self, answers):
        self.answers = answers  # url -> AnnounceResponse or an exception (or a callable giving one)
        self.log: list[tuple[float, str, str, object]] = []

    async def __call__(self, url, request):
        self.log.append((trio.current_time(), url, request.event, request))
        answer = self.answers.get(url, TrackerError(f"{url}: unreachable"))
        if callable(answer) and not isinstance(answer, type):
            answer = answer()
        if isinstance(answer, Exception):
            raise answer
        return answer


def fake_swarm(complete: bool = False):
    events = EventBus()
    client = SimpleNamespace(rng=random.Random(1), peer_id=b"-TT0100-aaaaaaaaaaaa", port=6881, events=events,
                             announce_port=6881, announce_port_changed=trio.sleep_forever)
    torrent = SimpleNamespace(
        info=SimpleNamespace(info_hash=HASH, total_length=1000),
        uploaded=0,
        downloaded=0,
        done_bytes=1000 if complete else 0,
        completed=trio.Event(),
        events=events,
        added=[],
    )
    torrent.add_peers = torrent.added.extend
    if complete:
        torrent.completed.set()
    return client, torrent


def reply(interval=100, min_interval=None, peers=(), warning=None, tracker_id=None):
    return AnnounceResponse(
        interval=interval, peers=peers, min_interval=min_interval, warning=warning, tracker_id=tracker_id
    )


def test_tiers_are_shuffled_once_and_filtered():
    tiers = TrackerTiers(
        [["http://a/", "udp://b:1", "wss://c/", "http://a/"], ["ftp://x"], ["https://d/"]], random.Random(3)
    )
    assert len(tiers.tiers) == 2 and sorted(tiers.tiers[0]) == ["http://a/", "udp://b:1"]
    assert tiers.tiers[1] == ["https://d/"]
    tiers.promote(0, tiers.tiers[0][1])
    assert [u for _, u in tiers.in_order()][2] == "https://d/"
    assert not TrackerTiers([["dht://x"]], random.Random(1))


async def test_started_regular_completed_and_stopped(autojump_clock):
    client, torrent = fake_swarm()
    tracker = FakeTracker({"http://t/announce": reply(interval=100, peers=(("10.0.0.1", 1),))})
    announcer = Announcer(
        TrackerTiers([["http://t/announce"]], random.Random(1)), client, torrent, tracker, AnnounceSettings()
    )
    events = client.events.subscribe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(announcer.run)
        await trio.sleep(250)
        torrent.done_bytes = 1000
        torrent.completed.set()
        await trio.sleep(50)
        nursery.cancel_scope.cancel()
    assert [(t, e) for t, _, e, _ in tracker.log] == [
        (0, "started"),
        (100, ""),
        (200, ""),
        (250, "completed"),
        (300, "stopped"),
    ]
    assert [r.left for *_, r in tracker.log] == [1000, 1000, 1000, 0, 0]
    assert tracker.log[-1][3].numwant == 0
    assert torrent.added[:1] == [("10.0.0.1", 1)]
    replies = []
    while True:
        try:
            replies.append(events.receive_nowait())
        except trio.WouldBlock:
            break
    assert sum(isinstance(e, ev.TrackerReply) for e in replies) == 5


async def test_a_new_nat_mapping_is_announced_at_once_with_the_external_port(autojump_clock):
    from torrentish.engine.client import open_client

    _, torrent = fake_swarm()
    tracker = FakeTracker({"http://t/announce": reply(interval=1000)})
    async with open_client(host="127.0.0.1") as client, trio.open_nursery() as nursery:
        announcer = Announcer(TrackerTiers([["http://t/announce"]], random.Random(1)), client, torrent, tracker,
                              AnnounceSettings())
        nursery.start_soon(announcer.run)
        await trio.sleep(5)
        client.set_external("192.0.2.7", 40001)  # a port mapping service got one
        await trio.sleep(5)
        client.set_external("192.0.2.7", 40001)  # a renewal that changed nothing
        await trio.sleep(5)
        client.set_external(None, None)  # the mapping ended
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert [(t, e, r.port) for t, _, e, r in tracker.log] == [
        (0, "started", client.port),
        (5, "", 40001),
        (15, "", client.port),
        (20, "stopped", client.port),
    ]


async def test_a_torrent_complete_at_start_never_says_completed(autojump_clock):
    client, torrent = fake_swarm(complete=True)
    tracker = FakeTracker({"udp://t:1": reply(interval=10)})
    announcer = Announcer(TrackerTiers([["udp://t:1"]], random.Random(1)), client, torrent, tracker, AnnounceSettings())
    with trio.move_on_after(35):
        await announcer.run()
    assert [e for _, _, e, _ in tracker.log] == ["started", "", "", "", "stopped"]
    assert tracker.log[0][3].left == 0


async def test_bep12_tries_tiers_in_order_and_promotes_the_one_that_answers(autojump_clock):
    client, torrent = fake_swarm()
    tiers = TrackerTiers(
        [["http://dead1/announce", "http://dead2/announce"], ["http://good/announce"]], random.Random(1)
    )
    tracker = FakeTracker({"http://good/announce": reply(interval=60)})
    announcer = Announcer(tiers, client, torrent, tracker, AnnounceSettings())
    with trio.move_on_after(61):
        await announcer.run()
    urls = [u for _, u, _, _ in tracker.log]
    dead = urls[:2]
    assert sorted(dead) == ["http://dead1/announce", "http://dead2/announce"]
    good = "http://good/announce"
    assert urls == [*dead, good, *dead, good, good]  # each round: tier 1 first, then tier 2
    assert [e for _, _, e, _ in tracker.log] == ["started"] * 3 + [""] * 3 + ["stopped"]
    # A tracker that answers moves to the front of its tier.
    tiers2 = TrackerTiers([["http://a/announce", "http://b/announce"]], random.Random(1))
    first, second = tiers2.tiers[0]
    tracker2 = FakeTracker({second: reply(interval=60)})
    with trio.move_on_after(61):
        await Announcer(tiers2, client, torrent, tracker2, AnnounceSettings()).run()
    assert [u for _, u, _, _ in tracker2.log] == [first, second, second, second]


async def test_failures_back_off_and_are_reported_but_never_raise(autojump_clock):
    client, torrent = fake_swarm()
    events = client.events.subscribe()
    tracker = FakeTracker({"http://t/announce": TrackerFailure("torrent not registered")})
    settings = AnnounceSettings(retry_first=15, retry_cap=60)
    announcer = Announcer(TrackerTiers([["http://t/announce"]], random.Random(1)), client, torrent, tracker, settings)
    with trio.move_on_after(200):
        await announcer.run()
    assert [t for t, *_ in tracker.log] == [0, 15, 45, 105, 165]  # 15, 30, 60, 60 (capped)
    assert all(e == "started" for _, _, e, _ in tracker.log)  # never heard: no "stopped" either
    failed = events.receive_nowait()
    assert isinstance(failed, ev.TrackerFailed) and failed.reason == "torrent not registered"


async def test_intervals_are_floored_min_interval_obeyed_warnings_and_tracker_ids_kept(autojump_clock):
    client, torrent = fake_swarm()
    events = client.events.subscribe()
    answers = iter([reply(interval=1, tracker_id=b"T1", warning="old client"), reply(interval=5, min_interval=40)])
    tracker = FakeTracker({"http://t/announce": lambda: next(answers, reply(interval=500))})
    announcer = Announcer(
        TrackerTiers([["http://t/announce"]], random.Random(1)), client, torrent, tracker, AnnounceSettings()
    )
    with trio.move_on_after(51):
        await announcer.run()
    assert [t for t, *_ in tracker.log] == [0, 10, 50, 51]
    assert tracker.log[0][3].tracker_id is None and all(r.tracker_id == b"T1" for *_, r in tracker.log[1:])
    seen = []
    while True:
        try:
            seen.append(events.receive_nowait())
        except trio.WouldBlock:
            break
    assert any(isinstance(e, ev.Warning) and "old client" in e.message for e in seen)


# ------------------------------------------------------------------------------- real transfers
@pytest.fixture
def payload(tmp_path):
    from torrentish.app.create import create_torrent
    from torrentish.formats.metainfo import parse_torrent

    data = random.Random(9).randbytes(700_000)
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "blob.bin").write_bytes(data)
    meta = parse_torrent(create_torrent(tmp_path / "seed" / "blob.bin", piece_length=65536))
    return meta.info, tmp_path, data


async def test_peers_meet_through_the_tracker_on_loopback(payload, nursery, monkeypatch):
    from torrentish.app.transfer import get, seed

    info, tmp_path, data = payload
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    server = TrackerServer(TrackerConfig(interval=60), random.Random(1))
    port, _ = await nursery.start(server.serve, "127.0.0.1", 0)
    tiers = [[f"udp://127.0.0.1:{port}/announce"], [f"http://127.0.0.1:{port}/announce"]]
    stop = trio.Event()
    nursery.start_soon(
        partial(seed, info, tmp_path / "seed", host="127.0.0.1", services=[tracker_service(tiers)], stop=stop)
    )
    with trio.fail_after(20):
        while server.swarms.scrape(info.info_hash, trio.current_time()).complete == 0:
            await trio.sleep(0.05)
        result = await get(info, tmp_path / "out", host="127.0.0.1", services=[tracker_service(tiers)], resume=None)
    assert result.complete and (tmp_path / "out" / "blob.bin").read_bytes() == data
    stop.set()
    with trio.fail_after(10):
        while server.swarms.peer_count:  # both said "stopped"
            await trio.sleep(0.05)


async def test_no_tracker_failure_stops_a_transfer(payload, nursery, monkeypatch):
    from torrentish.app.transfer import get, seed

    info, tmp_path, data = payload
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    dead = [["http://127.0.0.1:9/announce", "udp://127.0.0.1:9/announce", "http://[::1]:9/announce"]]
    ready = trio.Event()
    port = []
    stop = trio.Event()
    nursery.start_soon(
        partial(
            seed,
            info,
            tmp_path / "seed",
            host="127.0.0.1",
            stop=stop,
            services=[tracker_service(dead)],
            ready=lambda client, _: (port.append(client.port), ready.set()),
        )
    )
    await ready.wait()
    with trio.fail_after(20):
        result = await get(
            info,
            tmp_path / "out",
            host="127.0.0.1",
            peers=[("127.0.0.1", port[0])],
            services=[tracker_service(dead)],
            resume=None,
        )
    assert result.complete
    stop.set()


async def test_a_hybrid_announces_both_swarms(autojump_clock):
    client, torrent = fake_swarm()
    v2_swarm = b"\x09" * 20
    torrent.info.swarm_hashes = (HASH, v2_swarm)
    tracker = FakeTracker({"http://t/announce": reply(interval=100, peers=(("10.0.0.1", 1),))})
    announcer = Announcer(
        TrackerTiers([["http://t/announce"]], random.Random(1)), client, torrent, tracker, AnnounceSettings()
    )
    await announcer.announce_to("http://t/announce", "started")
    assert [(event, request.info_hash) for _, _, event, request in tracker.log] == [
        ("started", HASH), ("started", v2_swarm)]
    assert torrent.added == [("10.0.0.1", 1), ("10.0.0.1", 1)]
