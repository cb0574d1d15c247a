"""torrentish/ui/remote.py and the argument parsing of cli/remote.py: whatever a daemon reports
becomes rows and lines (never a traceback), and ID arguments parse as documented."""

from __future__ import annotations

import io
import json

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.cli.remote import MAX_IDS, parse_ids
from torrentish.ui import remote as view

TORRENT = {
    "id": 3, "name": "film.mkv", "hashString": "ab" * 20, "status": 4, "error": 0, "errorString": "",
    "percentDone": 0.4213, "sizeWhenDone": 2 * 2**30, "leftUntilDone": 2**30, "rateDownload": 1536 * 1024,
    "rateUpload": 0, "uploadRatio": 0.05, "eta": 3725, "peersConnected": 4, "metadataPercentComplete": 1,
    "files": [{"name": "film.mkv", "length": 2 * 2**30, "bytesCompleted": 2**30}],
    "fileStats": [{"bytesCompleted": 2**30, "wanted": True, "priority": 1}],
    "peers": [{"address": "10.0.0.2", "port": 51413, "clientName": "Transmission 3.00", "flagStr": "DE",
               "progress": 1.0, "rateToClient": 1536 * 1024, "rateToPeer": 0}],
    "trackerStats": [{"tier": 0, "announce": "http://t/announce", "hasAnnounced": True,
                      "lastAnnounceSucceeded": True, "lastAnnounceResult": "Success", "seederCount": 7,
                      "leecherCount": -1}],
}


def test_list_rows_and_totals():
    assert view.list_rows([TORRENT]) == [
        ("3", "42.1%", "1.0 GiB", "1h02m", "-", "1.5 MiB/s", "0.05", "downloading", "film.mkv")]
    assert view.totals_line([TORRENT, TORRENT]) == "2 torrents, down 3.0 MiB/s, up 0 B/s"


def test_states_in_words():
    assert view.state_of({"status": 4, "metadataPercentComplete": 0.5}) == "fetching metadata"
    assert view.state_of({"status": 6, "error": 3}) == "error"
    assert view.state_of({"status": 99}) == "unknown"
    assert [view.state_of({"status": n}) for n in range(7)] == list(view.STATES)


def test_show_tables():
    assert view.file_rows(TORRENT) == [("0", "50.0%", "2.0 GiB", "yes", "high", "film.mkv")]
    assert view.peer_rows(TORRENT) == [("10.0.0.2:51413", "Transmission 3.00", "DE", "100.0%", "1.5 MiB/s", "-")]
    assert view.tracker_rows(TORRENT) == [("1", "http://t/announce", "ok: Success", "7", "-")]
    facts = dict(view.facts(TORRENT))
    assert facts["Have"] == "1.0 GiB of 2.0 GiB wanted (42.1%)" and facts["ETA"] == "1h02m"


def test_plain_and_rich_tables():
    plain = io.StringIO()
    view.RemoteOutput(as_json=False, stdout=plain, rich=False).table(
        None, view.LIST_HEADER, view.list_rows([TORRENT]), view.LIST_RIGHT, footer="1 torrent")
    lines = plain.getvalue().splitlines()
    assert lines[0] == "ID   Done     Have    ETA  Up       Down  Ratio  State        Name"
    assert lines[1] == " 3  42.1%  1.0 GiB  1h02m   -  1.5 MiB/s   0.05  downloading  film.mkv"
    assert lines[2] == "1 torrent"
    rich = io.StringIO()
    view.RemoteOutput(as_json=False, stdout=rich, rich=True).table(
        None, view.LIST_HEADER, view.list_rows([TORRENT]), view.LIST_RIGHT)
    assert "film.mkv" in rich.getvalue() and "─" in rich.getvalue()


def test_json_records_use_snake_case_and_add_the_state():
    record = view.json_record(TORRENT)
    assert record["hash_string"] == "ab" * 20 and record["state"] == "downloading"
    assert record["file_stats"] == [{"bytes_completed": 2**30, "wanted": True, "priority": 1}]
    assert record["peers"][0]["rate_to_client"] == 1536 * 1024 and "state" not in record["peers"][0]


def test_a_name_cannot_forge_a_line():
    row = view.list_rows([{"id": 1, "name": "evil\n 2  100.0%  fake"}])[0]
    assert row[-1] == "evil 2 100.0% fake"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELDS = sorted(set(view.SHOW_FIELDS))
torrents = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS))


@settings(max_examples=300, deadline=None)
@given(torrents)
def test_any_torrent_a_daemon_sends_renders(torrent):
    out = io.StringIO()
    output = view.RemoteOutput(as_json=False, stdout=out, rich=False)
    output.table(None, view.LIST_HEADER, view.list_rows([torrent]), view.LIST_RIGHT, view.totals_line([torrent]))
    output.facts(view.facts(torrent))
    for rows in (view.file_rows(torrent), view.peer_rows(torrent), view.tracker_rows(torrent)):
        assert all(isinstance(cell, str) and "\n" not in cell for row in rows for cell in row)
    view.limits_line(view.torrent_limits(torrent, 1000))
    json.dumps(view.json_record(torrent))


def test_ids():
    assert parse_ids(["all"]) is None
    assert parse_ids(["3", "1,4", "6-8", "3", "AB" * 20]) == [3, 1, 4, 6, 7, 8, "ab" * 20]
    for bad in (["x"], ["1-"], ["9-3"], ["0-200000"], [""], ["all", "1"], ["-1"], ["1.5"]):
        with pytest.raises(typer.BadParameter):
            parse_ids(bad)


@given(st.lists(st.text(max_size=12), max_size=5))
def test_any_id_arguments_parse_or_are_a_usage_error(texts):
    try:
        ids = parse_ids(texts)
    except typer.BadParameter:
        return
    assert ids is None or (0 < len(ids) <= MAX_IDS and len(set(ids)) == len(ids))


def test_dates_no_calendar_holds_render_as_a_dash():
    # A daemon may send any number: year 10000, infinity and NaN are not dates.
    for epoch in (253402300800.0, float("inf"), float("nan"), 1e300, -5, 0, "x", None):
        assert view.date(epoch) == "-"
    assert view.date(1_700_000_000).startswith("2023-11-1")
