"""The views, drawn from fixed snapshots and event sequences: the live view rendered to text at
fixed sizes (snapshots), its size limits at every terminal size, the plain lines, the event log
lines and the closing summaries."""

from __future__ import annotations

import io
import logging
import re

import pytest
from rich.console import Console

from torrentish import events as ev
from torrentish.engine.status import FileStatus, PeerStatus, TorrentStatus
from torrentish.ui import logs
from torrentish.ui.ledger import Ledger
from torrentish.ui.live import MAX_WIDTH, LiveDisplay, fit, render
from torrentish.ui.plain import PlainDisplay
from torrentish.ui.summary import Outcome, summary_text

MiB = 1 << 20
CLIENTS = ("qBittorrent 4.6.2", "Transmission 4.0.5", "libtorrent 2.0.9", "aria2 1.37.0")


def peers(n: int) -> tuple[PeerStatus, ...]:
    return tuple(
        PeerStatus(
            address=(f"10.0.0.{i + 2}", 6881 + i),
            client=CLIENTS[i % 4],
            flags=("D", "dU", "DS", "uI")[i % 4],
            down_rate=(n - i) * 512 * 1024.0,
            up_rate=(i % 3) * 100 * 1024.0,
            progress=(1.0, 0.5, 0.25, 0.0)[i % 4],
            outgoing=i % 4 != 3,
            downloaded=(n - i) * 3 * MiB,
            uploaded=(i % 3) * MiB,
        )
        for i in range(n)
    )


def files(n: int) -> tuple[FileStatus, ...]:
    return tuple(
        FileStatus(f"album/{i + 1:02d} - track number {i + 1}.flac", 30 * MiB, (30 * MiB, 12 * MiB, 0)[i % 3], i != 5)
        for i in range(n)
    )


def status(**changes) -> TorrentStatus:
    fields = dict(
        name="ubuntu-24.04-desktop-amd64.iso", state="downloading", total=5800 * MiB, done=2400 * MiB,
        down_rate=11.5 * MiB, up_rate=1.2 * MiB, downloaded=2450 * MiB, uploaded=300 * MiB, wasted=0,
        elapsed=215.0, peers=peers(3), seeds_connected=1, known_peers=45, availability=2.35,
        files=(FileStatus("ubuntu-24.04-desktop-amd64.iso", 5800 * MiB, 2400 * MiB, True),),
        info_hash="ab" * 20, num_pieces=23200, have_pieces=9600,
    )
    fields.update(changes)
    return TorrentStatus(**fields)


def ledger_of(*events: ev.Event) -> Ledger:
    ledger = Ledger()
    for event in events:
        ledger.apply(event)
    return ledger


SWARM_EVENTS = (
    ev.TrackerReply(1.0, "http://tracker.example/announce", peers=50, seeders=120, leechers=340, interval=1800.0),
    ev.PieceFailed(2.0, 4, (("10.0.0.9", 1),)),
    ev.PeerBanned(2.0, ("10.0.0.9", 1), "corrupt data"),
)


def draw(s: TorrentStatus, ledger: Ledger | None, width: int, height: int) -> str:
    console = Console(file=io.StringIO(), width=width, height=height, color_system=None, legacy_windows=False,
                      force_terminal=False, emoji=False)
    console.print(render(s, ledger, width, height))
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


SNAPSHOT_CASES = {
    "multi_file_80x24": (
        status(name="album", files=files(12), total=360 * MiB, done=150 * MiB, peers=peers(12)),
        ledger_of(*SWARM_EVENTS), 80, 24),
    "single_file_200x50": (status(peers=peers(5)), ledger_of(*SWARM_EVENTS), 200, 50),
    "seeding_80x24": (
        status(state="seeding", done=5800 * MiB, downloaded=0, uploaded=9000 * MiB, peers=peers(2)[1:],
               seeds_connected=0),
        Ledger(), 80, 24),
    "waiting_80x24": (
        status(peers=(), seeds_connected=0, down_rate=0.0, availability=0.0, uploaded=0),
        ledger_of(ev.ConnectFailed(1.0, ("192.168.1.20", 6881), "[Errno 111] Connection refused")), 80, 24),
}

SNAPSHOTS = {
    "multi_file_80x24": """\
album                                                                downloading
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╸                                            41.7%
150.0 MiB / 360.0 MiB  down 11.5 MiB/s  up 1.2 MiB/s  eta 18s  time 3m35s
peers 12 (1 seed, 11 leechers)  swarm 120 seeds, 340 leechers  availability 2.35
files  4 of 11 complete, 1 skipped
02 - track number 2.flac                           ━━━━          40%    30.0 MiB
05 - track number 5.flac                           ━━━━          40%    30.0 MiB
08 - track number 8.flac                           ━━━━          40%    30.0 MiB
11 - track number 11.flac                          ━━━━          40%    30.0 MiB
03 - track number 3.flac                                          0%    30.0 MiB
09 - track number 9.flac                                          0%    30.0 MiB
12 - track number 12.flac                                         0%    30.0 MiB
01 - track number 1.flac                           ━━━━━━━━━━   100%    30.0 MiB
… 4 more
peer                   client              flags         down           up   has
10.0.0.2:6881          qBittorrent 4.6.2   D        6.0 MiB/s            -  100%
10.0.0.3:6882          Transmission 4.0.5  dU       5.5 MiB/s  100.0 KiB/s   50%
10.0.0.4:6883          libtorrent 2.0.9    DS       5.0 MiB/s  200.0 KiB/s   25%
10.0.0.5:6884          aria2 1.37.0        uI       4.5 MiB/s            -    0%
10.0.0.6:6885          qBittorrent 4.6.2   D        4.0 MiB/s  100.0 KiB/s  100%
10.0.0.7:6886          Transmission 4.0.5  dU       3.5 MiB/s  200.0 KiB/s   50%
10.0.0.8:6887          libtorrent 2.0.9    DS       3.0 MiB/s            -   25%
… 5 more""",
    "single_file_200x50": """\
ubuntu-24.04-desktop-amd64.iso                                                                               downloading
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━                                                                    41.4%
2.3 GiB / 5.7 GiB  down 11.5 MiB/s  up 1.2 MiB/s  eta 4m56s  uploaded 300.0 MiB  ratio 0.12  time 3m35s
peers 5 (1 seed, 4 leechers)  swarm 120 seeds, 340 leechers  availability 2.35  known 45  1 bad piece  1 banned
peer                           client                      flags         down           up         got        sent   has
10.0.0.2:6881                  qBittorrent 4.6.2           D        2.5 MiB/s            -    15.0 MiB         0 B  100%
10.0.0.3:6882                  Transmission 4.0.5          dU       2.0 MiB/s  100.0 KiB/s    12.0 MiB     1.0 MiB   50%
10.0.0.4:6883                  libtorrent 2.0.9            DS       1.5 MiB/s  200.0 KiB/s     9.0 MiB     2.0 MiB   25%
10.0.0.5:6884                  aria2 1.37.0                uI       1.0 MiB/s            -     6.0 MiB         0 B    0%
10.0.0.6:6885                  qBittorrent 4.6.2           D      512.0 KiB/s  100.0 KiB/s     3.0 MiB     1.0 MiB  100%""",
    "seeding_80x24": """\
ubuntu-24.04-desktop-amd64.iso                                           seeding
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  100%
5.7 GiB  up 1.2 MiB/s  uploaded 8.8 GiB  ratio 1.55  time 3m35s
peers 1 (0 seeds, 1 leecher)
peer                   client              flags         down           up   has
10.0.0.3:6882          Transmission 4.0.5  dU     512.0 KiB/s  100.0 KiB/s   50%""",
    "waiting_80x24": """\
ubuntu-24.04-desktop-amd64.iso                                 waiting for peers
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╸                                            41.4%
2.3 GiB / 5.7 GiB  down 0 B/s  up 1.2 MiB/s  eta --  time 3m35s
peers 0 (0 seeds, 0 leechers)  availability 0.00  known 45
connecting to peers… last try: 192.168.1.20:6881: connection refused""",
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_snapshots(name):
    assert draw(*SNAPSHOT_CASES[name]) == SNAPSHOTS[name]
@pytest.mark.parametrize("width", [30, 45, 60, 80, 100, 120, 200])
@pytest.mark.parametrize("height", [8, 12, 24, 50])
@pytest.mark.parametrize("n_files, n_peers", [(1, 0), (1, 3), (1, 60), (40, 0), (40, 60), (3, 2)])
def test_the_view_always_fits_the_terminal(width, height, n_files, n_peers):
    """Never wider than the terminal (or MAX_WIDTH) and never as tall: a line that wraps or
    scrolls breaks the in-place redraw."""
    s = status(peers=peers(n_peers), files=files(n_files) if n_files > 1 else status().files,
               seeds_connected=min(1, n_peers))
    lines = draw(s, ledger_of(*SWARM_EVENTS), width, height).split("\n")
    assert len(lines) <= height - 1
    assert max(len(line) for line in lines) <= min(width, MAX_WIDTH)
    if height >= 24 and n_peers:
        assert any(line.startswith("peer ") for line in lines)
    if height >= 24 and n_files > 1:
        assert any(line.startswith("files ") for line in lines)


def test_fit_drops_the_least_important_parts_first():
    from rich.text import Text

    parts = [(0, Text("aaaa")), (2, Text("bbbb")), (1, Text("cccc")), (2, Text("dddd"))]
    assert fit(parts, 100).plain == "aaaa  bbbb  cccc  dddd"
    assert fit(parts, 16).plain == "aaaa  bbbb  cccc"  # the later of two equal priorities goes first
    assert fit(parts, 10).plain == "aaaa  cccc"
    assert fit(parts, 3).plain == "aa…"


def test_progress_never_reads_100_before_the_end():
    almost = draw(status(done=5800 * MiB - 1), None, 80, 24)
    assert "99.9%" in almost and "100%" not in almost.split("\n")[1]
    assert "100%" in draw(status(done=5800 * MiB), None, 80, 24).split("\n")[1]


def test_ledger_folds_events_and_snapshots():
    a, b, c = ("10.0.0.2", 6881), ("10.0.0.3", 6881), ("10.0.0.4", 6881)
    ledger = ledger_of(
        ev.PeerConnected(1.0, a, "qBittorrent 4.6.2", True),
        ev.PeerConnected(1.0, b, "aria2", True),
        ev.PeerDisconnected(2.0, a, "closed by peer", downloaded=5000, uploaded=0),
        ev.PeerConnected(3.0, a, "qBittorrent 4.6.2", True),  # the same address again
        ev.TrackerReply(3.0, "http://one/announce", 10, seeders=5, leechers=9, interval=60.0),
        ev.TrackerReply(3.0, "http://two/announce", 10, seeders=7, leechers=None, interval=60.0),
        ev.TrackerFailed(4.0, "udp://three:80", "timed out"),
        ev.ConnectFailed(4.0, c, "[Errno 111] Connection refused"),
        ev.PieceFailed(5.0, 3, (b,)),
        ev.Completed(6.0, downloaded=1000, elapsed=5.5),
    )
    snapshot = status(peers=(
        PeerStatus(a, "qBittorrent 4.6.2", "D", 0.0, 0.0, 1.0, True, downloaded=700, uploaded=0),
        PeerStatus(b, "aria2", "U", 0.0, 0.0, 0.0, True, downloaded=0, uploaded=300),
    ))
    ledger.observe(snapshot)
    assert ledger.peers[a].downloaded == 5700  # the closed connection plus the current one
    assert (ledger.peers_seen, ledger.peers_used, ledger.peers_served) == (2, 1, 1)
    assert ledger.swarm == (7, 9) and ledger.tracker_errors == {"udp://three:80": "timed out"}
    assert ledger.last_connect_error == "10.0.0.4:6881: connection refused"
    assert ledger.failed_pieces == 1 and ledger.completed_at == 5.5 and ledger.last is snapshot


def test_plain_lines_from_a_fixed_sequence():
    out = io.StringIO()
    display = PlainDisplay(out, every=5.0, clock=lambda: 0.0)

    class FakeWatch:
        port = 6881
        ledger = Ledger()

        @staticmethod
        def now() -> float:
            return 100.0

    display.start(FakeWatch, status())
    display.refresh(status(), Ledger(), 101.0)  # too soon for a status line
    display.event(ev.PieceVerified(101.5, 3))
    display.refresh(status(), Ledger(), 102.0)
    display.event(ev.StateChanged(102.5, "seeding"))
    display.refresh(status(state="seeding", done=5800 * MiB), Ledger(), 103.0)  # at once on a change
    display.refresh(status(state="seeding", done=5800 * MiB), Ledger(), 107.0)  # moving: every 5 s
    display.refresh(status(state="seeding", done=5800 * MiB), Ledger(), 108.0)
    display.refresh(status(state="seeding", down_rate=0.0, up_rate=0.0), Ledger(), 120.0)  # idle: quiet
    stamp = r"\d\d:\d\d:\d\d "
    lines = out.getvalue().splitlines()
    assert [re.sub(stamp, "", line, count=1) for line in lines] == [
        "downloading ubuntu-24.04-desktop-amd64.iso (5.7 GiB in 23200 pieces); listening on port 6881",
        "seeding     5.7 GiB  up 1.2 MiB/s  uploaded 300.0 MiB  peers 3  ratio 0.12",
        "seeding     5.7 GiB  up 1.2 MiB/s  uploaded 300.0 MiB  peers 3  ratio 0.12",
    ]
    assert all(re.match(stamp, line) for line in lines)
    assert "\x1b" not in out.getvalue()


def test_every_logged_event_has_a_line():
    from tests.test_json_events import SAMPLES

    for event in SAMPLES:
        text = logs.describe(event)
        assert (text is None) == (type(event) not in logs.LEVELS), event
        assert text is None or "\n" not in text
    assert logs.describe(SAMPLES[5]) == "could not connect to 10.0.0.2:6881: connection refused"


def test_log_levels_follow_verbosity(tmp_path):
    connected = ev.PeerConnected(1.0, ("10.0.0.2", 6881), "aria2 1.37.0", True)
    banned = ev.PeerBanned(1.0, ("10.0.0.3", 6881), "corrupt data")
    verified = ev.PieceVerified(1.0, 5)
    try:
        for verbose, quiet, expected in [(0, False, [banned]), (1, False, [connected, banned]),
                                         (2, False, [connected, banned, verified]), (1, True, [])]:
            console = Console(file=io.StringIO(), width=200, color_system=None)
            logs.setup_logging(verbose, quiet, console=console)
            for event in (connected, banned, verified):
                logs.log_event(event)
            shown = console.file.getvalue()
            for event in (connected, banned, verified):
                assert (logs.describe(event) in shown) == (event in expected), (verbose, event)
        log_file = tmp_path / "run.log"
        logs.setup_logging(0, True, log_file)  # -q on the screen, INFO in the file
        logs.log_event(connected)
        logs.log_event(verified)
        written = log_file.read_text()
        assert "connected to 10.0.0.2:6881 (aria2 1.37.0)" in written and "piece 5" not in written
    finally:
        logs.setup_logging(0, False)
        for handler in list(logs.LOGGER.handlers):
            logs.LOGGER.removeHandler(handler)


def test_live_display_accounts_for_rewrapped_lines_when_narrowed():
    console = Console(file=io.StringIO(), width=100, height=24, force_terminal=True, color_system=None,
                      legacy_windows=False)
    display = LiveDisplay(console)

    class FakeWatch:
        command = "get"
        ledger = Ledger()

    display.start(FakeWatch, status())
    first_frame = console.file.getvalue()
    console.width = 60
    console.file.seek(0)
    console.file.truncate()
    display.refresh(status(), FakeWatch.ledger)
    # Drawn at 100 columns, most lines of the frame fill the width; at 60 columns the terminal shows
    # each on two rows, and the redraw must climb all of those rows to start at the top.
    frame = draw(status(), Ledger(), 100, 24).split("\n")
    rows = sum(-(-len(line) // 60) for line in frame)
    assert rows > len(frame) + 4 and first_frame.count("\n") == len(frame) - 1
    assert console.file.getvalue().count("\x1b[1A") == rows - 1
    display.close(status(), FakeWatch.ledger)
    assert "complete" not in console.file.getvalue() and "stopped" in console.file.getvalue()


def outcome(**changes) -> Outcome:
    fields = dict(command="get", outcome="complete", name="film.mkv", total=1400 * MiB, done=1400 * MiB,
                  downloaded=1400 * MiB, uploaded=12 * MiB, elapsed=130.0, download_time=127.5, peers_used=3,
                  peers_served=2)
    fields.update(changes)
    return Outcome(**fields)


@pytest.mark.parametrize("changes, expected", [
    ({}, "done: film.mkv, 1.4 GiB in 2m08s (11.0 MiB/s average) from 3 peers; uploaded 12.0 MiB to 2 peers, "
         "ratio 0.01"),
    ({"uploaded": 0, "peers_used": 1}, "done: film.mkv, 1.4 GiB in 2m08s (11.0 MiB/s average) from 1 peer, ratio 0.00"),
    ({"downloaded": 400 * MiB, "uploaded": 0},
     "done: film.mkv, 1.4 GiB (400.0 MiB this run) in 2m08s (3.1 MiB/s average) from 3 peers, ratio 0.00"),
    ({"downloaded": 0, "download_time": None}, "film.mkv is already complete (1.4 GiB verified on disk)"),
    ({"outcome": "stopped", "done": 700 * MiB, "download_time": None},
     "stopped film.mkv at 50.0% (700.0 MiB of 1.4 GiB) after 2m10s\n"
     "progress is saved: run the same command again to resume"),
    ({"command": "seed", "outcome": "seeded", "downloaded": 0, "uploaded": 2800 * MiB, "download_time": None},
     "seeded film.mkv for 2m10s: uploaded 2.7 GiB to 2 peers (ratio 2.00)"),
    ({"uploaded": 0, "peers_used": 0, "web_seeds_used": 1},
     "done: film.mkv, 1.4 GiB in 2m08s (11.0 MiB/s average) from 1 web seed, ratio 0.00"),
    ({"uploaded": 0, "peers_used": 1, "web_seeds_used": 2},
     "done: film.mkv, 1.4 GiB in 2m08s (11.0 MiB/s average) from 1 peer and 2 web seeds, ratio 0.00"),
    ({"command": "demo", "uploaded": 0}, "demo: 1.4 GiB copied in 2m08s at 11.0 MiB/s, identical to the original"),
])
def test_summary_lines(changes, expected):
    assert summary_text(outcome(**changes)) == expected


def test_output_mode_follows_the_flags_and_the_terminal(monkeypatch):
    from torrentish.ui.output import Output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm-256color")
    try:
        assert Output(command="get", stdout=Terminal()).mode == "live"
        assert Output(command="get", stdout=io.StringIO()).mode == "plain"
        assert Output(command="get", stdout=Terminal(), as_json=True).mode == "json"
        assert Output(command="get", stdout=Terminal(), quiet=True).mode == "quiet"
        monkeypatch.setenv("TERM", "dumb")
        assert Output(command="get", stdout=Terminal()).mode == "plain"
    finally:
        logs.setup_logging(0, False)
        for handler in list(logs.LOGGER.handlers):
            logs.LOGGER.removeHandler(handler)


def test_the_last_frame_says_who_took_part():
    a = ("10.0.0.2", 6881)
    ledger = ledger_of(ev.PeerConnected(1.0, a, "aria2", True),
                       ev.PeerDisconnected(2.0, a, "both are seeds", downloaded=5000, uploaded=0))
    lines = draw(status(state="complete", done=5800 * MiB, peers=()), ledger, 80, 24).split("\n")
    assert lines[0].endswith("complete") and lines[3] == "peers 1 seen, 1 sent data, 0 got data"


def test_a_port_mapping_shows_where_peers_reach_us():
    ledger = ledger_of(ev.PortMapped(1.0, "upnp", "udp", 6881, "198.51.100.7", 6881, 7200),
                       ev.PortMapped(1.0, "natpmp", "tcp", 6881, "198.51.100.7", 40001, 7200))
    assert ledger.reachable_at == "198.51.100.7:40001"  # the TCP mapping: what peers dial
    assert "reachable at 198.51.100.7:40001" in draw(status(), ledger, 120, 30)
    assert logs.describe(ev.PortMapped(1.0, "pcp", "tcp", 6881, None, 6881, 0)) == \
        "port mapping (pcp): TCP port 6881 -> our port 6881, until removed"
    assert logs.describe(ev.PortMappingFailed(1.0, "upnp", None, "no device answered")) == \
        "port mapping (upnp): no device answered"


def test_a_download_from_web_seeds_alone_is_not_waiting_for_peers():
    from torrentish.engine.status import WebSeedStatus
    from torrentish.ui.live import state_label, swarm_line

    fetching = (WebSeedStatus("http://a/", 2 * MiB, 8 * MiB), WebSeedStatus("http://b/", 0, 0, dropped="404"))
    assert state_label(status(state="downloading", peers=(), web_seeds=fetching)).plain == "downloading"
    assert state_label(status(state="downloading", peers=(), web_seeds=fetching[1:])).plain == "waiting for peers"
    assert "web seeds 1 of 2" in swarm_line(status(state="downloading", web_seeds=fetching), None, 200).plain
    ledger = Ledger()
    ledger.observe(status(state="complete", web_seeds=fetching))
    assert "web seeds 1 sent data" in swarm_line(status(state="complete", web_seeds=fetching), ledger, 200).plain
