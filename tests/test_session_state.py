"""The session's state records are untrusted input: bounded, validated, never a crash."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats import bencoding
from torrentish.errors import TorrentishError
from torrentish.session import state as ss
from torrentish.session.store import StateDir

HASH = bytes(range(20))
LIMITS = ss.state_limits(3, 100)


def full_state() -> ss.TorrentState:
    return ss.TorrentState(
        info_hash=HASH, id=7, name="film", magnet="magnet:?xt=urn:btih:" + HASH.hex(), download_dir="/srv/dl",
        labels=("a", "ü"), added_date=1_700_000_000, done_date=1_700_000_100, activity_date=1_700_000_200,
        running=False, forced=True, finished=True, queue_position=3, uploaded_ever=10, downloaded_ever=20,
        corrupt_ever=1, seconds_downloading=5, seconds_seeding=6, up_limit=1000, up_limited=True, down_limit=2000,
        down_limited=False, honors_session=False, ratio_mode=1, ratio_limit_milli=1500, idle_mode=2, idle_limit=9,
        sequential=True, priorities=(-1, 0, 1), wanted=(True, False, True), error_string="disk full",
        resume={b"version": 1, b"pieces": b"\xff" * 13},
    )


def test_a_record_comes_back_as_it_was_written():
    state = full_state()
    assert ss.load_torrent_state(ss.encode_torrent_state(state), HASH, LIMITS) == state


def test_a_record_of_another_torrent_or_version_is_not_loaded():
    data = ss.encode_torrent_state(full_state())
    assert ss.load_torrent_state(data, b"\x01" * 20, LIMITS) is None
    assert ss.load_torrent_state(data.replace(b"7:versioni1e", b"7:versioni9e"), HASH, LIMITS) is None


def test_every_truncation_is_refused():
    data = ss.encode_torrent_state(full_state())
    for end in range(len(data)):
        assert ss.load_torrent_state(data[:end], HASH, LIMITS) is None


def test_a_bad_field_costs_only_itself():
    record = bencoding.decode(ss.encode_torrent_state(full_state()))
    record[b"id"] = -4
    record[b"labels"] = [b"\xff\xfe"]
    record[b"priorities"] = [7]
    record[b"running"] = 5
    loaded = ss.load_torrent_state(bencoding.encode(record), HASH, LIMITS)
    default = ss.TorrentState(info_hash=HASH)
    assert (loaded.id, loaded.labels, loaded.priorities, loaded.running) == (
        default.id, default.labels, default.priorities, default.running)
    assert loaded.name == "film" and loaded.uploaded_ever == 10


def test_a_record_over_the_limit_is_refused():
    state = full_state()
    state.error_string = "x" * 4000
    state.labels = tuple("y" * 200 for _ in range(60))
    small = bencoding.Limits(max_size=2000, max_depth=4, max_items=1000, max_int_digits=20)
    assert ss.load_torrent_state(ss.encode_torrent_state(state), HASH, small) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    loaded = ss.load_torrent_state(data, HASH, LIMITS)
    assert loaded is None or loaded.info_hash == HASH
    assert ss.load_session_state(data) is None or isinstance(ss.load_session_state(data), ss.SessionState)


values = st.recursive(
    st.one_of(st.integers(-10**19, 10**19), st.binary(max_size=40)),  # (longer ones: not a record)
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.binary(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
FIELD_NAMES = [f.name.encode() for f in fields(ss.TorrentState)]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=12))
def test_well_formed_records_with_hostile_values_load_within_the_rules(fields_):
    data = bencoding.encode({b"version": 1, **fields_, b"info_hash": HASH})
    limits = ss.state_limits(1000, 1000)
    loaded = ss.load_torrent_state(data, HASH, limits)
    try:
        bencoding.decode(data, limits)
    except TorrentishError:
        assert loaded is None  # deeper or larger than any record of ours
        return
    assert loaded is not None
    assert 0 <= loaded.id <= ss.MAX_ID and all(p in (-1, 0, 1) for p in loaded.priorities)
    assert len(loaded.labels) <= ss.MAX_LABELS and all(isinstance(label, str) for label in loaded.labels)
    assert loaded.ratio_mode in (0, 1, 2) and isinstance(loaded.running, bool)
    assert loaded.resume is None or isinstance(loaded.resume, dict)
    ss.encode_torrent_state(loaded)  # and what loads can be written again


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([b"next_id", b"uploaded", b"settings", b"session_count"]), values, max_size=4))
def test_session_records_with_hostile_values_load(fields_):
    data = bencoding.encode({b"version": 1, **fields_})
    loaded = ss.load_session_state(data)
    try:
        bencoding.decode(data, ss.SESSION_LIMITS)
    except TorrentishError:
        assert loaded is None
        return
    assert loaded is not None and loaded.next_id >= 1
    assert all(isinstance(v, (int, str)) for v in loaded.settings.values())
    ss.encode_session_state(loaded)


def test_the_state_dir_lists_only_info_hash_names(tmp_path):
    store = StateDir(tmp_path)
    store.write_state(full_state())
    store.write_metainfo(b"\x02" * 20, b"d4:infod...e")
    for name in ("notes.txt", "ABCD.state", ("g" * 40) + ".state", (HASH.hex()) + ".state.tmp"):
        (tmp_path / "torrents" / name).write_bytes(b"x")
    assert store.info_hashes() == [HASH, b"\x02" * 20]
    assert store.read_state(HASH, LIMITS) == full_state()
    store.delete(HASH)
    assert store.info_hashes() == [b"\x02" * 20] and store.read_state(HASH, LIMITS) is None
    assert store.read_session() is None
    store.write_session(ss.SessionState(next_id=9, settings={"up_limit": 5, "encryption": "required"}))
    assert store.read_session() == ss.SessionState(next_id=9, settings={"up_limit": 5, "encryption": "required"})
