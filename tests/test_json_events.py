"""The --json stream: every record validates against docs/events.schema.json, the schema covers
every engine event, and a real get/seed pair over 127.0.0.1 produces a well-formed stream."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.support.data import make_single_file, make_torrent
from torrentish import events as ev
from torrentish.ui.json_events import SCHEMA_VERSION, Clock, JsonWriter, error_record, event_record

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
V4 = ("10.0.0.2", 6881)
V6 = ("2001:db8::1", 51413)

# One instance of every event type, with awkward values where there are any.
SAMPLES = [
    ev.CheckingProgress(1.0, checked=64, total=100),
    ev.StateChanged(1.0, "downloading"),
    ev.Progress(2.0, done=16384, total=1 << 30, downloaded=20000, uploaded=0, down_rate=1234.5678, up_rate=0.0, peers=3),
    ev.PeerConnected(2.0, V6, "qBittorrent 4.6.2", outgoing=False),
    ev.PeerDisconnected(3.0, V4, "closed by peer", downloaded=10, uploaded=0),
    ev.ConnectFailed(3.0, V4, "[Errno 111] Connection refused"),
    ev.PeerBanned(3.0, V4, "corrupt data"),
    ev.PieceVerified(3.0, 0),
    ev.PieceFailed(3.0, 7, (V4, V6)),
    ev.Completed(4.0, downloaded=1 << 30, elapsed=3.0),
    ev.TrackerReply(4.0, "http://tracker.example/announce", peers=50, seeders=None, leechers=40, interval=1800.0),
    ev.TrackerFailed(4.0, "udp://tracker.example:6969", "timed out"),
    ev.WebSeedFailed(4.0, "http://seed.example/film.mkv", "HTTP status 404", dropped=True),
    ev.PeersFound(4.0, "dht", 20),
    ev.Holepunch(4.0, "rendezvous", ("203.0.113.9", 6881), ("198.51.100.7", 51413)),
    ev.Holepunch(4.0, "failed", ("203.0.113.9", 6881), None, "NotConnected"),
    ev.PortMapped(4.0, "natpmp", "tcp", 6881, "198.51.100.7", 40001, 7200),
    ev.PortMapped(4.0, "upnp", "udp", 6881, None, 6881, 0),
    ev.PortMappingFailed(4.0, "pcp", None, "no IPv4 default gateway to ask"),
    ev.Warning(4.0, "disk is slow"),
    ev.TorrentAdded(5.0, 1, "ab" * 20, "film.mkv"),
    ev.TorrentRemoved(5.0, 1, "ab" * 20),
    ev.TorrentError(5.0, 2, "cd" * 20, "/srv/x/film.mkv: No space left on device"),
]


def kinds_in_schema() -> set[str]:
    return {branch["properties"]["event"]["const"] for branch in SCHEMA["oneOf"]}


def test_schema_is_valid_and_names_every_event_kind():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    engine_kinds = {cls.kind for cls in ev.event_types()}
    assert len(engine_kinds) == len(ev.event_types()), "two event types share a kind"
    assert kinds_in_schema() == engine_kinds | {"start", "summary", "error", "output_dropped"}
    assert {type(e) for e in SAMPLES} == set(ev.event_types()), "add a sample of the new event type"


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind)
def test_every_event_record_validates(event):
    record = event_record(event, Clock(t0=0.5, wall0=1_700_000_000.0))
    VALIDATOR.validate(record)
    assert record["v"] == SCHEMA_VERSION and record["event"] == event.kind
    assert record["t"] == round(event.time - 0.5, 3)


def test_record_details():
    clock = Clock(t0=10.0, wall0=1_700_000_000.25)
    record = event_record(ev.PieceFailed(12.5, 7, (V4, V6)), clock)
    assert record == {
        "v": 1, "event": "piece_failed", "t": 2.5, "ts": "2023-11-14T22:13:22.750Z",
        "index": 7, "peers": ["10.0.0.2:6881", "[2001:db8::1]:51413"],
    }
    rates = event_record(SAMPLES[2], clock)
    assert rates["down_rate"] == 1234.568 and rates["t"] == 0.0  # before t0 clamps to 0
    line = io.StringIO()
    JsonWriter(line).write(error_record("bad torrent: caf\u00e9", 1, clock, 11.0))
    assert line.getvalue().endswith("}\n") and "\n" not in line.getvalue()[:-1]
    assert json.loads(line.getvalue())["message"] == "bad torrent: caf\u00e9"


def test_the_dropped_lines_notice_is_a_record_of_the_stream():
    from torrentish.ui.json_events import JsonDisplay

    display = JsonDisplay(io.StringIO())
    display.clock = Clock(t0=0.0, wall0=1_700_000_000.0)
    notice = display.dropped_notice(42)
    assert notice.endswith("}\n")
    record = json.loads(notice)
    VALIDATOR.validate(record)
    assert record["event"] == "output_dropped" and record["lines"] == 42


@pytest.mark.parametrize("change", [
    {"v": 2},
    {"surprise": 1},
    {"index": -1},
    {"t": "soon"},
    {"ts": "yesterday"},
])
def test_schema_rejects_what_it_does_not_describe(change):
    record = event_record(ev.PieceVerified(1.0, 3), Clock(0.0, 0.0))
    VALIDATOR.validate(record)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({**record, **change})
    missing = dict(record)
    del missing["index"]
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(missing)


# -- the real thing ---------------------------------------------------------------------------------


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TORRENTISH_STATE_DIR=str(tmp_path / "state"), TORRENTISH_CONFIG=str(tmp_path / "none.toml"))
    for name in ("TORRENTISH_PORT", "TORRENTISH_MAX_UP", "TORRENTISH_MAX_DOWN", "TORRENTISH_DOWNLOAD_DIR"):
        env.pop(name, None)
    return env


def records(text: str) -> list[dict]:
    lines = text.splitlines()
    parsed = [json.loads(line) for line in lines]
    for record in parsed:
        VALIDATOR.validate(record)
    return parsed


def test_get_and_seed_stream_json(tmp_path):
    payload = make_single_file(tmp_path / "src", size=2 * 1024 * 1024 + 1000)
    torrent = tmp_path / "s.torrent"
    make_torrent(payload, torrent)
    env = cli_env(tmp_path)
    seeder = subprocess.Popen(
        [sys.executable, "-m", "torrentish", "seed", str(torrent), "--data", str(payload.root), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        start = json.loads(seeder.stdout.readline())
        VALIDATOR.validate(start)
        assert start["event"] == "start" and start["command"] == "seed" and start["port"] > 0
        got = subprocess.run(
            [sys.executable, "-m", "torrentish", "get", str(torrent), "-o", str(tmp_path / "dl"),
             "--peer", f"127.0.0.1:{start['port']}", "--json"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        seeder.send_signal(signal.SIGINT)
        seed_out, seed_err = seeder.communicate(timeout=30)
    finally:
        if seeder.poll() is None:
            seeder.kill()
    assert got.returncode == 0, got.stderr
    stream = records(got.stdout)
    kinds = [r["event"] for r in stream]
    assert kinds[0] == "start" and kinds[-1] == "summary"
    assert kinds.count("piece_verified") == start["pieces"]
    assert {"peer_connected", "completed", "state"} <= set(kinds)
    # the commands' default transport: uTP first, and the seed takes it
    assert [r["transport"] for r in stream if r["event"] == "peer_connected"] == ["utp"]
    times = [r["t"] for r in stream]
    assert times == sorted(times)
    summary = stream[-1]
    assert summary["outcome"] == "complete" and summary["exit_code"] == 0
    assert summary["done"] == summary["total"] == payload.total_length
    assert summary["peers_used"] == 1 and summary["events_dropped"] == 0
    assert "done:" in got.stderr  # the human line goes to stderr under --json
    assert (tmp_path / "dl" / payload.name).read_bytes() == payload.root.read_bytes()

    assert seeder.returncode == 0, seed_err
    seeded = records(seed_out)[-1]
    assert seeded["event"] == "summary" and seeded["outcome"] == "seeded"
    assert seeded["uploaded"] >= payload.total_length and seeded["peers_served"] == 1


def test_an_error_ends_the_stream_with_an_error_record(tmp_path):
    (tmp_path / "bad.torrent").write_bytes(b"d4:infoi1ee")
    result = subprocess.run(
        [sys.executable, "-m", "torrentish", "get", str(tmp_path / "bad.torrent"), "--json"],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
    )
    assert result.returncode == 1
    [record] = records(result.stdout)
    assert record["event"] == "error" and record["exit_code"] == 1 and record["message"]
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


async def test_the_bus_drops_for_a_full_subscriber_only_and_forgets_closed_ones():
    bus = ev.EventBus()
    slow, fast = bus.subscribe(buffer=2), bus.subscribe(buffer=10)
    for index in range(5):
        bus.publish(ev.PieceVerified(0.0, index))
    assert bus.dropped_for(slow) == 3 and bus.dropped_for(fast) == 0 and bus.dropped == 3
    assert [fast.receive_nowait().index for _ in range(5)] == [0, 1, 2, 3, 4]
    slow.close()
    bus.publish(ev.PieceVerified(0.0, 5))  # finds the closed channel and lets it go
    assert len(bus._subscribers) == 1 and fast.receive_nowait().index == 5
