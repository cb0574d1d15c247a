"""The Transmission RPC layer against a fake session: envelopes, names, arguments, fields, errors.

The HTTP side is tests/test_rpc_server.py; real clients are tests/test_rpc_clients.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fake_session import FakeConfig, FakePeer, FakeSession
from torrentish.formats.metainfo import build_info, build_torrent
from torrentish.rpc import names
from torrentish.rpc.methods import RpcHandler, RpcSettings
from torrentish.rpc.protocol import Limits


def torrent_bytes(name: str = "demo", files=(("a.bin",), ("sub", "b.bin")), length: int = 40000,
                  announce: str = "http://127.0.0.1:1/announce") -> bytes:
    piece = 16384
    total = length * len(files)
    pieces = b"\x11" * 20 * (-(-total // piece))
    info = build_info(name, piece, pieces, [(f, length) for f in files], None)
    return build_torrent(info, announce_list=[[announce]])


@pytest.fixture
def world(tmp_path: Path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    session = FakeSession(FakeConfig(state_dir=tmp_path / "state", download_dir=downloads))
    closed = []
    handler = RpcHandler(session, RpcSettings(allowed_roots=(downloads,), wall_clock=lambda: 1_700_000_010.0,
                                              session_id="sid", on_close=lambda: closed.append(True),
                                              limits=Limits(max_ids=50)))
    return session, handler, downloads, closed


async def call(handler: RpcHandler, method: str, arguments=None, *, jsonrpc: bool = False, tag=5):
    if jsonrpc:
        body = {"jsonrpc": "2.0", "method": method, "params": arguments or {}, "id": tag}
    else:
        body = {"method": method, "arguments": arguments or {}, "tag": tag}
    answer = await handler.handle(json.dumps(body).encode())
    return json.loads(answer)


async def add(handler, **extra):
    metainfo = base64.b64encode(torrent_bytes(**extra)).decode()
    return await call(handler, "torrent-add", {"metainfo": metainfo})


# ------------------------------------------------------------------------------------------ names
def test_names_both_ways():
    assert names.canonical("hashString") == "hash_string"
    assert names.canonical("hash_string") == "hash_string"
    assert names.canonical("peer-port") == "peer_port"
    assert names.canonical("isUTP") == "is_utp"
    assert names.canonical("downloadDir") == names.canonical("download-dir") == "download_dir"
    assert names.legacy_name("download_dir") == "download-dir"
    assert names.legacy_name("download_dir", in_torrent=True) == "downloadDir"
    assert names.legacy_name("torrent_get") == "torrent-get"
    assert names.legacy_name("seed_ratio_limit") == "seedRatioLimit"
    assert names.legacy_name("file_count") == "file-count"
    assert names.legacy_name("cumulative_stats") == "cumulative-stats"
    assert names.legacy_name("uploaded_bytes") == "uploadedBytes"


def test_every_documented_torrent_field_is_computed():
    from torrentish.rpc.fields import FIELDS

    assert [n for n in names.TORRENT_FIELDS_LEGACY if names.canonical(n) not in FIELDS] == []


async def test_every_field_of_a_torrent_at_once(world):
    """All fields in both spellings, through JSON: each computes on a real TorrentStatus."""
    session, handler, _, _ = world
    await add(handler)
    session.find(1).peers = [FakePeer(("127.0.0.2", 6881))]
    legacy = (await call(handler, "torrent-get", {"fields": list(names.TORRENT_FIELDS_LEGACY)}))
    assert set(legacy["arguments"]["torrents"][0]) == set(names.TORRENT_FIELDS_LEGACY)
    snake = [names.snake(n) for n in names.TORRENT_FIELDS_LEGACY]
    new = await call(handler, "torrent_get", {"fields": snake}, jsonrpc=True)
    assert set(new["result"]["torrents"][0]) == set(snake)


# ------------------------------------------------------------------------------------ torrent-add
async def test_add_by_metainfo_then_duplicate(world):
    session, handler, _, _ = world
    first = await add(handler)
    assert first["result"] == "success" and first["tag"] == 5
    added = first["arguments"]["torrent-added"]
    assert added["id"] == 1 and added["name"] == "demo" and len(added["hashString"]) == 40
    again = await add(handler)
    assert again["result"] == "success"
    assert again["arguments"]["torrent-duplicate"]["id"] == 1


async def test_add_by_path_magnet_and_jsonrpc_names(world, tmp_path):
    session, handler, downloads, _ = world
    path = tmp_path / "x.torrent"
    path.write_bytes(torrent_bytes("x"))
    by_path = await call(handler, "torrent_add", {"filename": str(path), "paused": True, "labels": ["a"]},
                         jsonrpc=True)
    assert by_path["jsonrpc"] == "2.0" and by_path["id"] == 5
    assert by_path["result"]["torrent_added"]["name"] == "x"
    assert session.find(1).state == "stopped" and session.find(1).labels == ("a",)
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=m"
    by_magnet = await call(handler, "torrent-add", {"filename": magnet})
    assert by_magnet["arguments"]["torrent-added"]["hashString"] == "ab" * 20


async def test_add_errors_are_results(world):
    _, handler, _, _ = world
    assert (await call(handler, "torrent-add", {}))["result"] == "no filename or metainfo specified"
    bad = await call(handler, "torrent-add", {"metainfo": base64.b64encode(b"not a torrent").decode()})
    assert bad["result"] != "success" and "\n" not in bad["result"]
    relative = await call(handler, "torrent-add", {"filename": "relative.torrent"})
    assert "absolute" in relative["result"]
    outside = await call(handler, "torrent-add", {"metainfo": base64.b64encode(torrent_bytes()).decode(),
                                                  "download-dir": "/etc"})
    assert "outside the allowed directories" in outside["result"]
    sneaky = await call(handler, "torrent-add", {"metainfo": base64.b64encode(torrent_bytes()).decode(),
                                                 "download-dir": "/tmp/../etc"})
    assert "outside the allowed directories" in sneaky["result"]
    wrong_type = await call(handler, "torrent-add", {"filename": 7})
    assert wrong_type["result"] == "filename must be a string of at most 65536 characters"
    jr = await call(handler, "torrent_add", {"paused": "yes", "filename": "x"}, jsonrpc=True)
    assert jr["error"]["code"] == -32602 and "paused" in jr["error"]["data"]["error_string"]


async def test_add_with_file_choices(world):
    session, handler, _, _ = world
    metainfo = base64.b64encode(torrent_bytes()).decode()
    answer = await call(handler, "torrent-add", {"metainfo": metainfo, "files-unwanted": [1], "priority-high": [0]})
    assert answer["result"] == "success"
    status = session.find(1).status()
    assert [f.wanted for f in status.files] == [True, False]
    assert [f.priority for f in status.files] == [1, 0]


# ------------------------------------------------------------------------------------ torrent-get
async def test_get_objects_and_table(world):
    session, handler, downloads, _ = world
    await add(handler)
    await add(handler, name="other", announce="udp://tracker.example.org:80")
    fields = ["id", "name", "hashString", "status", "percentDone", "leftUntilDone", "sizeWhenDone", "totalSize",
              "downloadDir", "eta", "uploadRatio", "files", "fileStats", "wanted", "priorities", "pieces",
              "pieceCount", "trackers", "trackerStats", "peers", "magnetLink", "isFinished", "rateDownload",
              "nonsense"]
    objects = (await call(handler, "torrent-get", {"fields": fields}))["arguments"]["torrents"]
    assert [t["id"] for t in objects] == [1, 2]
    one = objects[0]
    assert "nonsense" not in one
    assert one["downloadDir"] == str(downloads) and one["status"] == 4 and one["totalSize"] == 80000
    assert one["files"][1] == {"name": "demo/sub/b.bin", "length": 40000, "bytesCompleted": 0}
    assert one["fileStats"][0] == {"bytesCompleted": 0, "wanted": True, "priority": 0}
    assert one["wanted"] == [1, 1] and one["eta"] == -2 and one["percentDone"] == 0.0
    assert base64.b64decode(one["pieces"]) == bytes(1)
    assert objects[1]["trackers"][0]["sitename"] == "example"
    assert objects[1]["trackerStats"][0]["announce"] == "udp://tracker.example.org:80"
    table = (await call(handler, "torrent-get", {"fields": ["id", "name"], "format": "table", "ids": [2]}))
    assert table["arguments"]["torrents"] == [["id", "name"], [2, "other"]]


async def test_get_snake_case_in_jsonrpc(world):
    session, handler, _, _ = world
    await add(handler)
    session.find(1).peers = [FakePeer(("127.0.0.2", 6881), flags="DI", outgoing=False)]
    answer = await call(handler, "torrent_get", {"fields": ["hash_string", "wanted", "peers", "file_stats"]},
                        jsonrpc=True)
    torrent = answer["result"]["torrents"][0]
    assert torrent["wanted"] == [True, True]
    assert torrent["peers"][0]["is_incoming"] is True and torrent["peers"][0]["rate_to_client"] == 1000
    assert torrent["peers"][0]["client_is_choked"] is False
    assert "bytes_completed" in torrent["file_stats"][0]


async def test_get_takes_no_snapshot_for_cheap_fields(world):
    session, handler, _, _ = world
    await add(handler)
    await call(handler, "torrent-get", {"fields": ["id", "name", "status", "hashString", "addedDate", "labels"]})
    assert session.find(1).status_calls == []
    await call(handler, "torrent-get", {"fields": ["id", "percentDone", "leftUntilDone", "eta"]})
    assert session.find(1).status_calls == [{"files": False, "peers": False, "trackers": False, "pieces": False}]
    await call(handler, "torrent-get", {"fields": ["id", "percentDone", "files", "wanted"]})
    assert session.find(1).status_calls[1] == {"files": True, "peers": False, "trackers": False, "pieces": False}
    assert len(session.find(1).status_calls) == 2  # one snapshot for the whole row


async def test_ids_forms_and_unknown_ids(world):
    session, handler, _, _ = world
    await add(handler)
    hash_ = session.find(1).info_hash.hex()
    for ids in (1, [1], hash_, [hash_.upper()], [1, hash_]):
        got = await call(handler, "torrent-get", {"fields": ["id"], "ids": ids})
        assert got["arguments"]["torrents"] == [{"id": 1}], ids
    recent = await call(handler, "torrent-get", {"fields": ["id"], "ids": "recently-active"})
    assert recent["arguments"]["torrents"] == [{"id": 1}] and recent["arguments"]["removed"] == []
    missing = await call(handler, "torrent-get", {"fields": ["id"], "ids": [99]})
    assert missing["arguments"]["torrents"] == []  # torrent-get skips unknown ids, as Transmission
    stop = await call(handler, "torrent-stop", {"ids": [1, 99]})
    assert stop["result"] == "no torrent with id 99"
    assert session.find(1).state == "downloading"  # nothing touched
    for bad in ([True], ["zz"], [1.5], {"a": 1}, [-1]):
        answer = await call(handler, "torrent-start", {"ids": bad})
        assert answer["result"] != "success", bad
    huge = await call(handler, "torrent-start", {"ids": list(range(51))})
    assert huge["result"] == "ids names more than 50 torrents"


# --------------------------------------------------------------------------------- actions and set
async def test_actions_and_remove(world):
    session, handler, _, _ = world
    await add(handler)
    await add(handler, name="two")
    for method in ("torrent-stop", "torrent-start", "torrent-start-now", "torrent-verify", "torrent-reannounce",
                   "queue-move-top"):
        assert (await call(handler, method, {"ids": [1]}))["result"] == "success", method
    assert ("start", 1, True) in session.calls and ("reannounce", 1) in session.calls
    assert (await call(handler, "torrent-stop"))["result"] == "success"  # no ids: all of them
    assert all(t.state == "stopped" for t in session.torrents())
    removed = await call(handler, "torrent-remove", {"ids": [2], "delete-local-data": True})
    assert removed["result"] == "success" and ("remove", 2, True) in session.calls
    recent = await call(handler, "torrent-get", {"fields": ["id"], "ids": "recently-active"})
    assert recent["arguments"]["removed"] == [2]


async def test_torrent_set(world):
    session, handler, downloads, _ = world
    await add(handler)
    answer = await call(handler, "torrent-set", {"ids": [1], "uploadLimit": 50, "uploadLimited": True,
                                                 "files-unwanted": [], "labels": ["x", "y"],
                                                 "seedRatioMode": 1, "seedRatioLimit": 1.5})
    assert answer["result"] == "success"
    torrent = session.find(1)
    assert torrent.limits == {"up": 50_000, "up_limited": True}
    assert [f.wanted for f in torrent.files] == [False, False]  # empty list: every file
    assert torrent.labels == ("x", "y") and torrent.ratio_limit == (1, 1.5)
    out_of_range = await call(handler, "torrent-set", {"ids": [1], "files-wanted": [0, 7]})
    assert out_of_range["result"] == "file index 7 out of range (the torrent has 2 files)"
    assert [f.wanted for f in torrent.files] == [False, False]  # checked before any change
    (downloads / "new").mkdir()
    moved = await call(handler, "torrent-set-location", {"ids": [1], "location": str(downloads / "new"), "move": True})
    assert moved["result"] == "success" and torrent.download_dir == downloads / "new"
    outside = await call(handler, "torrent-set-location", {"ids": [1], "location": "/root"})
    assert "outside the allowed directories" in outside["result"]


async def test_rename_path_refuses_traversal(world):
    session, handler, _, _ = world
    await add(handler)
    ok = await call(handler, "torrent-rename-path", {"ids": [1], "path": "demo/sub", "name": "renamed"})
    assert ok["result"] == "success" and ok["arguments"] == {"path": "demo/sub", "name": "renamed", "id": 1}
    for path, name in (("demo/sub", ".."), ("demo/sub", "a/b"), ("../demo", "x"), ("/etc/passwd", "x"),
                       ("demo/missing", "x"), ("demo/./sub", "x"), ("demo", "")):
        answer = await call(handler, "torrent-rename-path", {"ids": [1], "path": path, "name": name})
        assert answer["result"] != "success", (path, name)
    assert [c for c in session.calls if c[0] == "rename_path"] == [("rename_path", 1, "demo/sub", "renamed")]
    two = await call(handler, "torrent-rename-path", {"path": "demo", "name": "x"})
    assert two["result"] == "success"  # all (one) torrents
    await add(handler, name="b")
    assert (await call(handler, "torrent-rename-path", {"path": "demo", "name": "x"}))["result"] == \
        "torrent-rename-path requires 1 torrent"


# ---------------------------------------------------------------------------------------- session
async def test_session_get_set_stats_close(world):
    session, handler, downloads, closed = world
    got = (await call(handler, "session-get"))["arguments"]
    assert got["rpc-version"] >= 16 and got["download-dir"] == str(downloads) and got["session-id"] == "sid"
    assert got["seedRatioLimited"] is False and got["units"]["speed-bytes"] == 1000
    some = (await call(handler, "session-get", {"fields": ["version", "peer-port"]}))["arguments"]
    assert set(some) == {"version", "peer-port"}
    new_dir = downloads / "d2"
    answer = await call(handler, "session-set", {"speed-limit-down": 300, "speed-limit-down-enabled": True,
                                                 "download-dir": str(new_dir), "encryption": "required",
                                                 "seedRatioLimited": True, "seedRatioLimit": 3,
                                                 "some-unknown-key": 1})
    assert answer["result"] == "success"
    config = session.config
    assert config.down_limit == 300_000 and config.up_limit == 0 and config.download_dir == new_dir
    assert config.encryption == "required" and config.ratio_limit == 3.0
    jr = await call(handler, "session_get", {"fields": ["speed_limit_down", "encryption"]}, jsonrpc=True)
    assert jr["result"] == {"speed_limit_down": 300, "encryption": "required"}
    bad = await call(handler, "session-set", {"encryption": "sometimes"})
    assert "encryption" in bad["result"]
    outside = await call(handler, "session-set", {"download-dir": "/var"})
    assert "outside" in outside["result"] and session.config.download_dir == new_dir
    stats = (await call(handler, "session-stats"))["arguments"]
    assert stats["torrentCount"] == 0 and "uploadedBytes" in stats["cumulative-stats"]
    space = (await call(handler, "free-space", {"path": str(downloads)}))["arguments"]
    assert space["path"] == str(downloads) and space["size-bytes"] > 0
    assert "outside" in (await call(handler, "free-space", {"path": "/"}))["result"]
    assert (await call(handler, "session-close"))["result"] == "success" and closed == [True]


# ---------------------------------------------------------------------------------- envelopes
async def test_malformed_and_unknown(world):
    _, handler, _, _ = world
    for body in (b"", b"{", b"[]", b"\xff\xfe", b"NaN", b'"text"', b"[" * 100000, b'{"method": 5}',
                 b'{"method": "torrent-get", "arguments": []}'):
        answer = json.loads(await handler.handle(body))
        assert answer.get("result") != "success" or "error" in answer, body[:20]
    unknown = await call(handler, "torrent-explode")
    assert unknown["result"] == "method name not recognized: torrent-explode"
    jr_unknown = await call(handler, "torrent_explode", jsonrpc=True)
    assert jr_unknown["error"]["code"] == -32601
    parse = json.loads(await handler.handle(b'{"jsonrpc": "2.0", "method": '))
    assert parse["error"]["code"] == -32700 and parse["id"] is None


async def test_jsonrpc_batch_and_notifications(world):
    _, handler, _, _ = world
    batch = [{"jsonrpc": "2.0", "method": "session_get", "params": {"fields": ["version"]}, "id": 1},
             {"jsonrpc": "2.0", "method": "session_stats"},  # a notification: no answer
             {"jsonrpc": "2.0", "method": "nope", "id": 3}, 7]
    answers = json.loads(await handler.handle(json.dumps(batch).encode()))
    assert [a.get("id") for a in answers] == [1, 3, None]
    assert answers[1]["error"]["code"] == -32601 and answers[2]["error"]["code"] == -32600
    assert await handler.handle(b'{"jsonrpc": "2.0", "method": "session_stats"}') is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
method_names = st.sampled_from(list(names.METHODS_LEGACY) + [names.snake(m) for m in names.METHODS_LEGACY]
                               + ["", "x"])
arg_names = st.sampled_from(["ids", "fields", "format", "filename", "metainfo", "download-dir", "paused",
                             "files-wanted", "priority-low", "location", "move", "path", "name", "labels",
                             "delete-local-data", "uploadLimit", "speed-limit-up", "encryption", "peer-port",
                             "seedRatioLimit", "queuePosition", "tracker_list"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=method_names, arguments=st.dictionaries(arg_names, json_values, max_size=5),
       jsonrpc=st.booleans(), raw=st.binary(max_size=64))
async def test_fuzz_every_answer_is_json(world, method, arguments, jsonrpc, raw):
    """Whatever arrives, the answer is JSON in the request's envelope, never an exception."""
    _, handler, _, _ = world
    if arguments.get("filename") and isinstance(arguments["filename"], str):
        arguments["filename"] = "/nonexistent/" + arguments["filename"].replace("\x00", "")
    answer = await call(handler, method, arguments, jsonrpc=jsonrpc)
    assert ("jsonrpc" in answer) == jsonrpc
    if not jsonrpc:
        assert isinstance(answer["result"], str) and "\n" not in answer["result"]
        assert "internal error" not in answer["result"], answer
    else:
        assert "result" in answer or answer["error"]["code"] != -32603, answer
    text = await handler.handle(raw)
    assert text is None or json.loads(text) is not None


async def test_session_set_changes_only_what_it_names(world):
    session, handler, downloads, _ = world
    assert (await call(handler, "session-set", {"pex-enabled": False}))["result"] == "success"
    assert session.calls[-1] == ("update", {"pex": False})
    await call(handler, "session-set", {"speed-limit-up": 20})  # the value alone: the switch stays off
    assert session.calls[-1] == ("update", {"up_limit": 0})
    await call(handler, "session-set", {"speed-limit-up-enabled": True})
    assert session.calls[-1] == ("update", {"up_limit": 20_000})
    got = (await call(handler, "session-get", {"fields": ["speed-limit-up", "speed-limit-up-enabled"]}))
    assert got["arguments"] == {"speed-limit-up": 20, "speed-limit-up-enabled": True}


async def test_recently_active_follows_changes(world):
    """Added, changed by a request, or seen in another state since the last such query."""
    session, handler, _, _ = world
    clock = [1_700_000_000.0]
    handler.wall_clock = lambda: clock[0]
    await add(handler)
    await add(handler, name="two")

    async def recent():
        got = await call(handler, "torrent-get", {"fields": ["id"], "ids": "recently-active"})
        return [t["id"] for t in got["arguments"]["torrents"]]

    assert await recent() == [1, 2]
    clock[0] += 120  # long after: nothing changed
    for t in session.torrents():
        t.added_date = t.activity_date = 0
    assert await recent() == []
    await call(handler, "torrent-stop", {"ids": [2]})
    assert await recent() == [2]
    clock[0] += 120
    session.find(1).state = "seeding"  # the session moved it on (a check ended)
    assert await recent() == [1]
