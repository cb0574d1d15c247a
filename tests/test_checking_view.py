"""The check of data already on disk is shown while it runs, before the transfer view starts."""

from __future__ import annotations

import io

import trio

from tests.support.fake_peer import MiB, make_sample
from torrentish.app.transfer import seed
from torrentish.ui.plain import PlainDisplay
from torrentish.ui.views import Watch


class Recorder:
    """A display that records what it is asked to show, in order."""

    interval = None

    def __init__(self):
        self.calls: list[tuple] = []

    def checking(self, name, checked, total, now):
        self.calls.append(("checking", checked, total))

    def checking_done(self):
        self.calls.append(("checking_done",))

    def start(self, watch, status):
        self.calls.append(("start", status.state))

    def event(self, event):
        pass

    def close(self, status, ledger):
        self.calls.append(("close",))


async def _seed_briefly(tmp_path, display, state_dir, monkeypatch):
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(state_dir))
    sample = make_sample(tmp_path / "data", size=3 * MiB)  # 96 pieces of 32 KiB
    stop = trio.Event()
    watch = Watch(display, command="seed")

    def ready(client, torrent):
        stop.set()  # checked and serving: enough

    await seed(sample.info, sample.content_path, host="127.0.0.1", view=watch, ready=ready, stop=stop)
    return sample


async def test_the_check_is_shown_before_the_view_starts(tmp_path, monkeypatch):
    display = Recorder()
    await _seed_briefly(tmp_path, display, tmp_path / "state", monkeypatch)
    names = [c[0] for c in display.calls]
    assert names[0] == "checking" and display.calls[0][1:] == (0, 0)  # at once, before any hashing
    progress = [c for c in display.calls if c[0] == "checking"][1:]
    assert progress and progress[-1][1:] == (96, 96)
    assert all(a[1] <= b[1] for a, b in zip(progress, progress[1:]))
    assert names.index("checking_done") < names.index("start")


async def test_a_display_without_checking_is_left_alone(tmp_path, monkeypatch):
    class Plain(Recorder):
        checking = checking_done = None  # no such methods

    display = Plain()
    await _seed_briefly(tmp_path, display, tmp_path / "state", monkeypatch)
    assert display.calls[0] == ("start", "seeding")


def test_plain_lines_mention_only_a_check_that_takes_a_while():
    quick, slow = io.StringIO(), io.StringIO()
    display = PlainDisplay(quick, every=5.0)
    for now, checked in [(0.0, 0), (0.3, 64), (0.6, 96)]:
        display.checking("a.bin", checked, 96 if checked else 0, now)
    assert quick.getvalue() == ""  # the first line of a quick start still names the port
    display = PlainDisplay(slow, every=5.0)
    for now, checked in [(0.0, 0), (0.5, 64), (1.5, 128), (3.0, 192), (7.0, 256), (7.2, 1000), (7.4, 1024)]:
        display.checking("a.bin", checked, 1024 if checked else 0, now)
    lines = [line.split(" ", 1)[1] for line in slow.getvalue().splitlines()]
    assert lines == ["checking a.bin: 128/1024 pieces (12%)", "checking a.bin: 256/1024 pieces (25%)",
                     "checking a.bin: 1024/1024 pieces (100%)"]


class EventRecorder(Recorder):
    def event(self, event):
        self.calls.append(("event", type(event).__name__, getattr(event, "state", None)))


async def test_the_view_hears_the_torrents_first_events(tmp_path, monkeypatch):
    # The view starts once the torrent serves, but it subscribed before the torrent was added:
    # the state change that starts the transfer (published before it serves) is in what it heard.
    display = EventRecorder()
    await _seed_briefly(tmp_path, display, tmp_path / "state", monkeypatch)
    assert ("event", "StateChanged", "seeding") in display.calls
