"""Our web UI (torrentish/web/) in headless Chromium, on real RPC daemons.

Each test runs against every daemon in DAEMON_KINDS (tests.support.daemons). The browser only
ever talks to 127.0.0.1. Waits are Playwright's auto-retrying assertions (the page polls the
daemon every two seconds), each with a deadline; nothing sleeps. Screenshots of the desktop and
phone layouts land in the test's log directory.
"""

from __future__ import annotations

import os
import random
import re
import sys
from pathlib import Path

import pytest

from tests.support import ManagedProcess, free_port, wait_until
from tests.support.browser import DESKTOP, PHONE, PageProblems, chromium
from tests.support.daemons import DAEMON_KINDS, magnet_for, rpc_daemon
from tests.support.data import assert_identical, make_multi_file, make_single_file, make_torrent

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

TRANSFER_DEADLINE = 90_000  # ms: Transmission unchokes on a 10 s round; the data is 3 MiB
UI_DEADLINE = 15_000  # ms for the page to show what the daemon did (it polls every 2 s)


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture(params=DAEMON_KINDS)
def daemon(request, tmp_path: Path, logs: Path):
    with rpc_daemon(request.param, tmp_path / "daemon", logs) as running:
        yield running


@pytest.fixture
def page_on(browser):
    """page_on(url, layout=DESKTOP, allow=()) -> a page with our UI loaded; console errors and
    exceptions (but those with a text in `allow`) fail the test at the end."""
    contexts, watchers = [], []

    def open_page(url: str, layout=DESKTOP, allow: tuple[str, ...] = (), **options):
        context = browser.new_context(**layout, **options)
        contexts.append(context)
        page = context.new_page()
        watchers.append(PageProblems(page, allow))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    for watcher in watchers:
        watcher.assert_none()


def torrentish_seed(torrent: Path, data: Path, port: int, dial_port: int, logs: Path) -> ManagedProcess:
    """``torrentish seed`` on 127.0.0.1:PORT that also dials the daemon: Transmission never dials
    loopback peers it hears of, but takes incoming ones; the torrentish daemon dials the
    magnet's x.pe peer."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    argv = [sys.executable, "-m", "torrentish", "seed", torrent, "--data", data, "--port", str(port),
            "--peer", f"127.0.0.1:{dial_port}", "--no-lsd", "--max-up", "512KiB/s"]
    return ManagedProcess("torrentish-seed", argv, logs, env=env, cwd=logs.parent)


def row(page, name: str):
    return page.locator("li.torrent", has=page.locator(".name", has_text=name))


def test_magnet_transfer_reaches_100_percent_then_remove(daemon, page_on, tmp_path, logs):
    from playwright.sync_api import expect

    payload = make_single_file(tmp_path / "seed", "web-ui transfer.bin")
    torrent = tmp_path / "transfer.torrent"
    info_hash = make_torrent(payload, torrent)
    page = page_on(daemon.web_url)
    expect(page.locator("#empty")).to_be_visible(timeout=UI_DEADLINE)

    seed_port = free_port()
    with torrentish_seed(torrent, payload.root, seed_port, daemon.peer_port, logs) as seed:
        seed.wait_listening(seed_port, timeout=30)
        page.click("#add-button")
        page.fill("#add-form textarea[name=links]", magnet_for(info_hash, payload.name, seed_port))
        page.click("#add-form [type=submit]")
        expect(page.locator("#add-dialog")).not_to_be_visible()
        entry = row(page, payload.name)
        expect(entry).to_have_count(1, timeout=UI_DEADLINE)
        # The seed sends at most 512 KiB/s: the transfer lasts some seconds, the peer is there to see.
        entry.locator(".name").click()
        page.locator("#details [data-tab=peers]").click()
        expect(page.locator("#peers li .address").first).to_have_text(re.compile(r"^127\.0\.0\.1:\d+$"),
                                                                      timeout=TRANSFER_DEADLINE)
        expect(entry.locator(".down")).to_have_text(re.compile("/s$"), timeout=TRANSFER_DEADLINE)
        page.screenshot(path=logs / "desktop-downloading.png")
        page.locator("#details-close").click()
        try:
            expect(entry.locator(".state")).to_have_text("Seeding", timeout=TRANSFER_DEADLINE)
        except AssertionError:
            pytest.fail(f"the transfer did not finish\n{seed.report()}\n{daemon.report()}", pytrace=False)
        expect(entry.locator(".bar")).to_have_attribute("aria-valuenow", "100.0")
        expect(entry.locator(".have")).to_have_text("3.0 MiB")
    assert_identical(payload, daemon.download_dir / payload.name, who="the daemon's download")
    page.screenshot(path=logs / "desktop-list.png")

    entry.locator(".name").click()
    details = page.locator("#details")
    expect(details).to_be_visible()
    expect(details.locator("#details-name")).to_have_text(payload.name)
    expect(details.locator("#overview")).to_contain_text(info_hash.hex(), timeout=UI_DEADLINE)
    details.locator("[data-tab=files]").click()
    expect(details.locator("#files li")).to_have_count(1, timeout=UI_DEADLINE)
    expect(details.locator("#files li .size")).to_have_text("3.0 MiB of 3.0 MiB")
    details.locator("[data-tab=trackers]").click()
    expect(details.locator("#no-trackers")).to_be_visible(timeout=UI_DEADLINE)
    page.screenshot(path=logs / "desktop-details.png")

    details.locator("[data-detail-action=remove]").click()
    dialog = page.locator("#remove-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("[name=delete]").check()
    dialog.locator("[type=submit]").click()
    expect(details).to_be_hidden()
    expect(page.locator("li.torrent")).to_have_count(0, timeout=UI_DEADLINE)
    expect(page.locator("#empty")).to_be_visible()
    assert daemon.oracle().get_torrents() == []
    wait_until(lambda: not (daemon.download_dir / payload.name).exists(), 10, "the data to be deleted")


def test_torrent_file_stop_start_verify_files_and_trackers(daemon, page_on, tracker, tmp_path, logs):
    from playwright.sync_api import expect

    payload = make_multi_file(tmp_path / "data", "Album (2021) [FLAC]")
    torrent = tmp_path / "album.torrent"
    make_torrent(payload, torrent, announce=tracker.announce_url)
    page = page_on(daemon.web_url)
    page.click("#add-button")
    page.set_input_files("#add-form input[name=files]", torrent)
    page.fill("#add-form input[name=dir]", str(payload.parent))  # the data is there: it seeds
    page.click("#add-form [type=submit]")
    entry = row(page, payload.name)
    expect(entry.locator(".state")).to_have_text("Seeding", timeout=UI_DEADLINE)
    oracle = daemon.oracle()
    [added] = oracle.get_torrents()
    assert added.download_dir.rstrip("/") == str(payload.parent)

    entry.locator("input.select").check()
    expect(page.locator("[data-action=torrent-stop]")).to_be_enabled()
    page.click("[data-action=torrent-stop]")
    expect(entry.locator(".state")).to_have_text("Stopped", timeout=UI_DEADLINE)
    assert oracle.get_torrent(added.id).status == "stopped"

    # Verify finds a corrupted piece: the torrent is no longer complete.
    first = payload.file_paths()[0]
    data = bytearray(first.read_bytes())
    data[100] ^= 0xFF
    first.write_bytes(data)
    page.click("[data-action=torrent-verify]")
    expect(entry.locator(".have")).to_contain_text(" of ", timeout=UI_DEADLINE)
    assert oracle.get_torrent(added.id).percent_done < 1

    page.click("[data-action=torrent-start]")
    expect(entry.locator(".state")).not_to_have_text("Stopped", timeout=UI_DEADLINE)
    assert oracle.get_torrent(added.id).status != "stopped"

    entry.locator(".name").click()
    details = page.locator("#details")
    details.locator("[data-tab=files]").click()
    files = details.locator("#files li")
    expect(files).to_have_count(len(payload.files), timeout=UI_DEADLINE)
    expect(files.nth(3).locator(".name")).to_have_text("sub/d.bin")
    files.nth(0).locator("input[type=checkbox]").uncheck()
    files.nth(3).locator("select").select_option("1")
    wait_until(lambda: oracle.get_torrent(added.id).wanted == [0, 1, 1, 1], 10, "file 0 to be unwanted")
    wait_until(lambda: [f.priority for f in oracle.get_torrent(added.id).get_files()] == [0, 0, 0, 1], 10,
               "file 3 to be high")
    expect(files.nth(0)).to_have_class("file unwanted", timeout=UI_DEADLINE)
    expect(files.nth(3).locator("select")).to_have_value("1")
    page.screenshot(path=logs / "desktop-files.png")

    details.locator("[data-tab=trackers]").click()
    tracker_row = details.locator("#trackers li")
    expect(tracker_row.locator(".url")).to_have_text(f"Tier 1: {tracker.announce_url}", timeout=UI_DEADLINE)
    expect(tracker_row.locator(".result")).to_contain_text("OK", timeout=UI_DEADLINE)


def test_phone_layout_fits_and_back_closes_details(daemon, page_on, tmp_path, logs):
    from playwright.sync_api import expect

    payload = make_single_file(tmp_path / "data", "a rather long file name that has to wrap on a phone.iso")
    torrent = tmp_path / "phone.torrent"
    make_torrent(payload, torrent)
    daemon.oracle().add_torrent(torrent.read_bytes(), download_dir=str(payload.parent))
    page = page_on(daemon.web_url, PHONE)
    entry = row(page, payload.name)
    expect(entry.locator(".state")).to_have_text("Seeding", timeout=UI_DEADLINE)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), "the list is wider than the phone's screen"
    # On a phone the rates and counts sit on their own line under the name, labelled.
    assert entry.locator(".stats").evaluate("e => getComputedStyle(e).display") == "flex"
    page.screenshot(path=logs / "phone-list.png")

    entry.locator(".name").tap()
    details = page.locator("#details")
    expect(details).to_be_visible()
    assert details.evaluate("e => e.getBoundingClientRect().width") == 390
    expect(details.locator("#overview")).to_contain_text("Seeding", timeout=UI_DEADLINE)
    assert page.evaluate(fits), "the details are wider than the phone's screen"
    page.screenshot(path=logs / "phone-details.png")
    page.go_back()  # the phone's back button closes the panel, not the page
    expect(details).to_be_hidden()
    expect(entry).to_be_visible()

    page.click("#add-button")
    assert page.locator("#add-dialog").evaluate("e => e.getBoundingClientRect().right") <= 390
    page.screenshot(path=logs / "phone-add.png")


def test_names_are_text_not_markup(daemon, page_on):
    from playwright.sync_api import expect

    name = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    daemon.oracle().add_torrent(magnet_for(bytes(range(20)), name), paused=True)
    page = page_on(daemon.web_url)
    entry = page.locator("li.torrent")
    expect(entry).to_have_count(1, timeout=UI_DEADLINE)
    expect(entry.locator(".name")).to_have_text(name)
    entry.locator(".name").click()
    expect(page.locator("#details-name")).to_have_text(name, timeout=UI_DEADLINE)
    assert page.locator("main img, main b, #details img, #details b").count() == 0
    assert page.evaluate("window.pwned") is None


# The session id the daemon hands out now, asked for at the RPC address the page uses.
SESSION_ID = """import("./rpc.js").then((rpc) => fetch(rpc.rpcUrl(location), { method: "POST", body: "{}" }))
    .then((response) => response.headers.get("X-Transmission-Session-Id"))"""


def test_daemon_restart_shows_a_banner_then_recovers_with_a_new_session_id(daemon, page_on):
    from playwright.sync_api import expect

    daemon.oracle().add_torrent(magnet_for(bytes(20), "kept across the restart"), paused=True)
    page = page_on(daemon.web_url, allow=("ERR_CONNECTION_REFUSED",))
    expect(page.locator("li.torrent")).to_have_count(1, timeout=UI_DEADLINE)
    old_id = page.evaluate(SESSION_ID)
    daemon.stop()
    expect(page.locator("#banner")).to_have_text("Cannot reach the daemon; retrying…", timeout=UI_DEADLINE)
    daemon.restart()
    expect(page.locator("#banner")).to_be_hidden(timeout=UI_DEADLINE)
    expect(page.locator("li.torrent .name")).to_have_text("kept across the restart")
    new_id = page.evaluate(SESSION_ID)
    assert old_id and new_id and new_id != old_id


@pytest.mark.parametrize("kind", DAEMON_KINDS)
def test_basic_auth(kind, tmp_path, logs, browser):
    from playwright.sync_api import expect

    with rpc_daemon(kind, tmp_path / "daemon", logs, auth=("alice", "s3cret")) as daemon:
        daemon.oracle().add_torrent(magnet_for(bytes(20), "behind a password"), paused=True)
        context = browser.new_context(http_credentials={"username": "alice", "password": "s3cret"})
        page = context.new_page()
        problems = PageProblems(page)
        page.goto(daemon.web_url)
        expect(page.locator("li.torrent .name")).to_have_text("behind a password", timeout=UI_DEADLINE)
        context.close()
        problems.assert_none()


def test_formatting_matches_the_command_line(tmp_path, logs, browser):
    """format.js's sizes and durations read like torrentish's own (torrentish/formats/units.py)."""
    from torrentish.formats.units import format_duration, format_size

    values = [0, 1, 1023, 1024, 1536, 10**6, 1048575, 1048576, 1048525, 2**30 - 1, 5 * 2**40, 2**62]
    values += [random_value for random_value in random.Random(7).sample(range(2**50), 200)]
    with rpc_daemon(DAEMON_KINDS[0], tmp_path / "daemon", logs) as daemon:
        page = browser.new_page()
        page.goto(daemon.web_url)
        sizes, durations = page.evaluate(
            """async (values) => {
                const fmt = await import("./format.js");
                return [values.map(fmt.formatSize), values.map((v) => fmt.formatDuration(v % 10000000))];
            }""", values)
        page.close()
    assert sizes == [format_size(v) for v in values]
    assert durations == [format_duration(v % 10000000) for v in values]


def test_a_refused_add_keeps_the_dialog_open_with_the_daemons_words(daemon, page_on, tmp_path):
    from playwright.sync_api import expect

    not_a_torrent = tmp_path / "notes.torrent"
    not_a_torrent.write_bytes(b"these are not bencoded")
    page = page_on(daemon.web_url)
    page.click("#add-button")
    page.click("#add-form [type=submit]")
    expect(page.locator("#add-error")).to_have_text("Paste a magnet link or URL, or choose a .torrent file.")
    page.set_input_files("#add-form input[name=files]", not_a_torrent)
    page.click("#add-form [type=submit]")
    expect(page.locator("#add-error")).to_contain_text("notes.torrent: ", timeout=UI_DEADLINE)
    expect(page.locator("#add-dialog")).to_be_visible()
    assert daemon.oracle().get_torrents() == []
