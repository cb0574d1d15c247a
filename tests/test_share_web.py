"""`share` over HTTP: the download page, the files with range support, and the same URL as the
torrent's web seed; the page in headless Chromium; curl and aria2 from another namespace."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.support import ManagedProcess, require_tool, wait_until
from torrentish.app.share import share
from torrentish.app.transfer import get
from torrentish.formats.http_range import UNSATISFIABLE, parse_range
from torrentish.formats.magnet import parse_magnet
from torrentish.formats.metainfo import load_torrent
from torrentish.services.webseed import webseed_service

ROOT = Path(__file__).resolve().parent.parent
TORRENTISH = [sys.executable, "-m", "torrentish"]


# -- the Range header, pure --------------------------------------------------------------------------

def test_range_headers():
    assert parse_range("bytes=0-99", 1000) == (0, 100)
    assert parse_range("bytes=900-", 1000) == (900, 1000)
    assert parse_range("bytes=-100", 1000) == (900, 1000)
    assert parse_range("bytes=-5000", 1000) == (0, 1000)
    assert parse_range("bytes=990-5000", 1000) == (990, 1000)
    assert parse_range("bytes=1000-", 1000) == UNSATISFIABLE
    assert parse_range("bytes=-0", 1000) == UNSATISFIABLE
    assert parse_range("bytes=5-1", 1000) is None
    assert parse_range("bytes=0-1,5-6", 1000) is None  # several ranges: the whole file
    assert parse_range("lines=0-1", 1000) is None and parse_range(None, 1000) is None


@given(st.text(max_size=40), st.integers(0, 10**12))
def test_range_parsing_never_raises_and_stays_in_the_file(header, size):
    found = parse_range(header, size)
    if isinstance(found, tuple):
        start, end = found
        assert 0 <= start < end <= size


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_explicit_ranges_are_honoured(a, b, size):
    found = parse_range(f"bytes={a}-{b}", size)
    if b < a:
        assert found is None
    elif a >= size:
        assert found == UNSATISFIABLE
    else:
        assert found == (a, min(b + 1, size))


# -- share on loopback -------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    rng = random.Random(7)
    root = tmp_path / "holiday"
    (root / "day 2").mkdir(parents=True)
    (root / "beach.jpg").write_bytes(rng.randbytes(300_000))
    (root / "day 2" / "sea & sky.mp4").write_bytes(rng.randbytes(700_001))
    return root


async def _running_share(nursery, path: Path, **options):
    options.setdefault("torrent_out", path.parent / f"{path.name}.torrent")  # not in the working directory
    found: list = []
    ready = trio.Event()
    stop = trio.Event()

    def on_ready(details) -> None:
        found.append(details)
        ready.set()

    nursery.start_soon(partial(share, path, host="127.0.0.1", port=0, tracker_port=0, http_port=0, lsd=False,
                               ready=on_ready, stop=stop, **options))
    with trio.fail_after(20):
        await ready.wait()
    return found[0], stop


async def test_the_page_the_files_and_their_ranges(tree, tmp_path, nursery):
    details, stop = await _running_share(nursery, tree, torrent_out=tmp_path / "h.torrent")
    page_url = details.page_urls[0]
    video = (tree / "day 2" / "sea & sky.mp4").read_bytes()
    async with httpx.AsyncClient(trust_env=False) as http:
        page = await http.get(page_url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "sea &amp; sky.mp4" in page.text and "683.6 KiB" in page.text and "magnet:?xt=" in page.text
        links = re.findall(r'href="(/files/[^"]+)"', page.text)
        assert len(links) == 2
        whole = await http.get(page_url.rstrip("/") + links[1])
        assert whole.status_code == 200 and whole.content == video and whole.headers["accept-ranges"] == "bytes"
        part = await http.get(whole.url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == video[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(video)}"
        head = await http.head(whole.url)
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(video))
        beyond = await http.get(whole.url, headers={"Range": f"bytes={len(video)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(video)}"
        for other in ("/files/holiday/%2e%2e/holiday/beach.jpg", "/files/nothing", "/files/%2Fetc%2Fpasswd"):
            assert (await http.get(page_url.rstrip("/") + other)).status_code == 404
        torrent = await http.get(page_url + "holiday.torrent")
        assert torrent.content == (tmp_path / "h.torrent").read_bytes()
    # The same root is the web seed, in the torrent and in the link.
    assert load_torrent(tmp_path / "h.torrent").url_list == details.web_seeds
    assert parse_magnet(details.magnet).web_seeds == details.web_seeds
    assert details.web_seeds == (page_url + "files/",)
    # ... and a download from it alone (no peer, no tracker) completes.
    meta = load_torrent(tmp_path / "h.torrent")
    with trio.fail_after(30):
        result = await get(meta.info, tmp_path / "out", services=[webseed_service(details.web_seeds)], resume=None)
    assert result.complete
    assert (tmp_path / "out" / "holiday" / "day 2" / "sea & sky.mp4").read_bytes() == video
    stop.set()


async def test_curl_fetches_a_range(tree, tmp_path, nursery):
    curl = require_tool("curl")
    details, stop = await _running_share(nursery, tree)
    url = details.web_seeds[0] + "holiday/beach.jpg"
    done = await trio.run_process([curl, "-sS", "-f", "-r", "1000-1999", url], capture_stdout=True)
    assert done.stdout == (tree / "beach.jpg").read_bytes()[1000:2000]
    stop.set()


# -- the page in a browser ---------------------------------------------------------------------------

def _share_process(tree: Path, tmp_path: Path, logs: Path, argv_prefix=(), host="127.0.0.1") -> ManagedProcess:
    env = dict(os.environ, TORRENTISH_STATE_DIR=str(tmp_path / "cli-state"), PYTHONPATH=str(ROOT), COLUMNS="400")
    argv = [*argv_prefix, *TORRENTISH, "share", tree, "--port", "0", "--tracker-port", "0", "--http-port", "0",
            "--no-lsd", "--no-qr"]
    if host is not None:
        argv += ["--host", host]
    return ManagedProcess("share", argv, logs, cwd=tmp_path, env=env)


def _page_url(proc: ManagedProcess) -> str:
    wait_until(lambda: proc.check_alive() or "Ctrl-C to stop" in proc.stdout_path.read_text(), 30,
               "share to start", proc.report)
    line = next(x for x in proc.stdout_path.read_text().splitlines() if x.startswith("download page"))
    return line.split(": ", 1)[1].split()[0]


def test_the_page_in_chromium_on_a_phone(tree, tmp_path, logs):
    from tests.support.browser import PHONE, PageProblems, chromium

    with _share_process(tree, tmp_path, logs) as proc, chromium() as browser:
        url = _page_url(proc)
        context = browser.new_context(**PHONE, accept_downloads=True)
        page = context.new_page()
        problems = PageProblems(page)
        page.goto(url)
        assert page.title() == "holiday"
        links = page.locator("li a")
        assert links.count() == 2
        assert "sea & sky.mp4" in links.nth(1).inner_text()
        box = links.nth(0).bounding_box()
        assert box["width"] > 300 and box["height"] >= 44, box  # a tap target across a phone's width
        page.screenshot(path=logs / "share-page-phone.png", full_page=True)
        with page.expect_download() as waiting:
            links.nth(0).click()
        saved = tmp_path / "downloaded.jpg"
        waiting.value.save_as(saved)
        assert saved.read_bytes() == (tree / "beach.jpg").read_bytes()
        problems.assert_none()
        context.close()
        proc.stop(signal.SIGINT)


# -- from another network namespace ------------------------------------------------------------------

@pytest.mark.interop
def test_curl_and_aria2_download_the_files_from_another_namespace(tree, tmp_path, logs):
    from tests.support.netns import Lan, require_netns

    require_netns()
    curl, aria2c = require_tool("curl"), require_tool("aria2c")
    with Lan(2) as lan, _share_process(tree, tmp_path, logs, lan.command(0, []), host=None) as proc:
        url = _page_url(proc)
        assert url.startswith(f"http://{lan.ipv4[0]}:")
        base = url + "files/holiday/"
        page = subprocess.run(lan.command(1, [curl, "-sS", "-f", url]), capture_output=True, timeout=30)
        assert b"beach.jpg" in page.stdout, page.stderr
        got = subprocess.run(lan.command(1, [curl, "-sS", "-f", "-r", "-500", base + "beach.jpg"]),
                             capture_output=True, timeout=30)
        assert got.stdout == (tree / "beach.jpg").read_bytes()[-500:], got.stderr
        out = tmp_path / "aria2"
        # Several connections per file: aria2 splits it into ranges, which is what we want to see served.
        aria = subprocess.run(lan.command(1, [aria2c, "-q", "-x4", "-s4", "-k1M", "--allow-overwrite=true",
                                              "-d", out, "-o", "video.mp4", base + "day%202/sea%20%26%20sky.mp4"]),
                              capture_output=True, text=True, timeout=60)
        assert aria.returncode == 0, aria.stdout + aria.stderr
        assert (out / "video.mp4").read_bytes() == (tree / "day 2" / "sea & sky.mp4").read_bytes()
        proc.stop(signal.SIGINT)


# -- get follows the link while any one of its sources answers ---------------------------------------

@pytest.mark.parametrize("http", [True, False], ids=["with-web-seed", "peer-only"])
async def test_get_takes_the_metadata_from_the_peer_when_every_xs_source_fails(tree, tmp_path, nursery, caplog, http):
    from urllib.parse import quote

    from tests.support import free_port
    from torrentish.app.trackerless import get_function, get_magnet
    from torrentish.services.discovery.sources import exact_sources

    details, stop = await _running_share(nursery, tree, http=http)
    link = details.magnet
    dead = f"http://127.0.0.1:{free_port()}/x.torrent"  # as if a firewall closed those ports
    for url in exact_sources(link):
        link = link.replace("xs=" + quote(url, safe=""), "xs=" + quote(dead, safe=""))
    assert exact_sources(link) == [dead]
    from torrentish.app import trackerless

    trackerless.LOGGER.addHandler(caplog.handler)  # whatever an earlier command's logging set up
    try:
        function, source = await trio.to_thread.run_sync(lambda: get_function(link, dht=False, lsd=False))
    finally:
        trackerless.LOGGER.removeHandler(caplog.handler)
    assert function is get_magnet
    assert "taking the metadata from peers instead" in caplog.text
    with trio.fail_after(30):
        result = await function(**source, out_dir=tmp_path / "out", port=0, host="127.0.0.1", resume=None)
    assert result.complete
    assert (tmp_path / "out" / "holiday" / "beach.jpg").read_bytes() == (tree / "beach.jpg").read_bytes()
    stop.set()


@pytest.mark.interop
def test_libtorrent_downloads_from_the_shares_web_seed_alone(tree, tmp_path, logs):
    require_tool("libtorrent")
    from tests.support.lt import LtSession
    from torrentish.formats.metainfo import build_torrent

    with _share_process(tree, tmp_path, logs) as proc:
        _page_url(proc)
        meta = load_torrent(tmp_path / "holiday.torrent")
        assert meta.url_list and meta.url_list[0].endswith("/files/")
        # The web seed and nothing else: no tracker, no peer.
        only_web = tmp_path / "web-only.torrent"
        only_web.write_bytes(build_torrent(meta.info.raw, url_list=list(meta.url_list)))
        with LtSession(logs / "lt.log") as session:
            handle = session.leech(only_web, tmp_path / "lt")
            session.wait_seeding(handle, timeout=60)
        assert " connected (" not in proc.stdout_path.read_text(), "libtorrent reached the seed as a peer"
        proc.stop(signal.SIGINT)
    for path in ("beach.jpg", "day 2/sea & sky.mp4"):
        assert (tmp_path / "lt" / "holiday" / path).read_bytes() == (tree / path).read_bytes()


@pytest.mark.interop
def test_get_of_a_shares_link_through_a_firewall_on_its_http_ports(tree, tmp_path, logs):
    """The share's host drops TCP to its tracker and HTTP ports: both xs= and the web seed fail,
    and `get` still completes, with the metadata and the data from the x.pe peer."""
    from tests.support.netns import Lan, require_netns

    require_netns()
    require_tool("nft")
    env = dict(os.environ, TORRENTISH_STATE_DIR=str(tmp_path / "get-state"), PYTHONPATH=str(ROOT), COLUMNS="400")
    with Lan(2) as lan, _share_process(tree, tmp_path, logs, lan.command(0, []), host=None) as proc:
        _page_url(proc)
        printed = proc.stdout_path.read_text()
        magnet = next(x.split("magnet: ", 1)[1] for x in printed.splitlines() if x.startswith("magnet: "))
        tracker_port = re.search(r"tracker: http://[^:]+:(\d+)/", printed).group(1)
        http_port = re.search(r"download page \(and web seed\): http://[^:]+:(\d+)/", printed).group(1)
        rules = (f"table inet wall {{\n chain input {{\n type filter hook input priority 0;\n"
                 f" tcp dport {{ {tracker_port}, {http_port} }} drop\n }}\n}}\n")
        subprocess.run(lan.command(0, ["nft", "-f", "-"]), input=rules, text=True, check=True)
        argv = [*TORRENTISH, "get", magnet, "-o", tmp_path / "dl", "--no-dht", "--no-lsd", "--no-port-mapping", "-v"]
        with ManagedProcess("get", lan.command(1, argv), logs, cwd=tmp_path, env=env) as get_proc:
            assert get_proc.wait_exit(60) == 0, get_proc.report()
            output = get_proc.stdout_path.read_text() + get_proc.stderr_path.read_text()
        proc.stop(signal.SIGINT)
    assert "taking the metadata from peers instead" in output
    for path in ("beach.jpg", "day 2/sea & sky.mp4"):
        assert (tmp_path / "dl" / "holiday" / path).read_bytes() == (tree / path).read_bytes()


@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=40)), st.sampled_from(["GET", "HEAD", "POST"]))
def test_any_request_gets_a_bounded_answer(target, range_header, method):
    """share's handler, called directly: every target and Range gets 200/206/404/405/416 with a
    body (or a body writer) no longer than the file."""
    import hashlib

    from torrentish.app.share_web import ShareWeb
    from torrentish.formats.bencoding import encode
    from torrentish.formats.metainfo import parse_info
    from torrentish.net.http_server import HttpRequest

    info = parse_info(encode({b"name": b"f.bin", b"length": 1000, b"piece length": 16384,
                              b"pieces": hashlib.sha1().digest()}))
    web = ShareWeb(info, Path("/nonexistent"), b"d8:announce0:e")
    headers = {} if range_header is None else {"range": range_header}
    for path in ("/" + target, "//[" + target, "/files/f.bin", "/files/f.bin?" + target):
        reply = trio.run(web._request, HttpRequest(method, path, headers, b"", ("127.0.0.1", 1)))
        assert reply.status in (200, 206, 404, 405, 416)
        if reply.write_body is not None:
            assert 0 < reply.length <= 1000 if reply.status == 206 else reply.length == 1000
