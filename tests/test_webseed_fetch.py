"""Web seeds (BEP 19) end to end: downloads from a real nginx, alone and beside a peer, and from
servers of our own that misbehave (wrong bytes, 404, short ranges, Range ignored) beside a good
one: the download completes from the others and the bad server is dropped."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from tests.support.data import KiB, assert_identical, make_multi_file, make_single_file, make_torrent
from tests.support.nginx import access_log, nginx_serving
from torrentish import events as ev
from torrentish.app.transfer import get, seed
from torrentish.formats.metainfo import build_torrent, parse_torrent
from torrentish.net.http_server import HttpResponse, HttpServer
from torrentish.services.discovery.sources import load_source, peer_sources_for
from torrentish.services.webseed import WebSeedSettings, webseed_service

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

FAST_RETRY = WebSeedSettings(retry_delay=0.01, max_retry_delay=0.05, max_failures=3, request_bytes=64 * KiB,
                             idle_poll=0.05, timeout=1.0, min_rate=256 * KiB)  # 64 KiB: 1.25 s at most


def slow(rate: str) -> str:
    """nginx configuration that sends at most `rate` per connection. Without sendfile and with
    small buffers, so that even a 64 KiB range is paced (else it leaves in one socket write)."""
    return f"sendfile off; output_buffers 1 8k; limit_rate {rate};"


def recorder(found: list):
    """A service that records every event the client publishes (it runs first)."""

    async def service(client, torrent) -> None:
        async with client.events.subscribe() as channel:
            async for event in channel:
                found.append(event)

    return service


def info_of(payload, tmp_path: Path, url_list=()):
    path = tmp_path / "t.torrent"
    make_torrent(payload, path)
    meta = parse_torrent(path.read_bytes())
    if url_list:
        path.write_bytes(build_torrent(meta.info.raw, url_list=list(url_list)))
        meta = parse_torrent(path.read_bytes())
    return meta, path


async def test_single_file_from_nginx_alone_through_the_torrents_url_list(tmp_path: Path):
    payload = make_single_file(tmp_path / "www", size=1024 * KiB + 123)
    with nginx_serving(tmp_path / "www", tmp_path / "nginx") as base:
        # The file's own URL, as BEP 19 has it for a single-file torrent.
        meta, path = info_of(payload, tmp_path, url_list=[base + payload.name])
        loaded, _ = load_source(str(path))
        services = peer_sources_for(loaded, lsd=False)
        with trio.fail_after(60):
            result = await get(loaded.info, tmp_path / "out", services=services, resume=None)
        log = access_log(tmp_path / "nginx")
    assert result.complete
    assert_identical(payload, tmp_path / "out" / payload.name)
    assert " 206 " in log and f"/{payload.name} " in log


async def test_multi_file_from_nginx_alone(tmp_path: Path):
    payload = make_multi_file(tmp_path / "www")  # a zero-length file, a nested one, pieces over files
    meta, _ = info_of(payload, tmp_path)
    with nginx_serving(tmp_path / "www", tmp_path / "nginx") as base:
        with trio.fail_after(60):
            result = await get(meta.info, tmp_path / "out", services=[webseed_service([base])], resume=None)
        log = access_log(tmp_path / "nginx")
    assert result.complete
    assert_identical(payload, tmp_path / "out" / payload.name)
    assert "/multi/sub/d.bin" in log


async def test_web_seed_and_a_peer_share_the_work(tmp_path: Path):
    payload = make_single_file(tmp_path / "www", size=2048 * KiB)
    meta, _ = info_of(payload, tmp_path)
    stop = trio.Event()
    seeded: list = []

    async def seeder(ready) -> None:
        seeded.append(await seed(meta.info, payload.parent, port=0, host="127.0.0.1", stop=stop,
                                 max_up=512 * KiB, ready=ready))

    # Slow enough that the peer does part of the work, fast enough that the web seed does too.
    with nginx_serving(tmp_path / "www", tmp_path / "nginx", extra=slow("256k")) as base:
        async with trio.open_nursery() as nursery:
            port: list[int] = []
            nursery.start_soon(seeder, lambda client, torrent: port.append(client.port))
            with trio.fail_after(10):
                while not port:
                    await trio.sleep(0.01)
            with trio.fail_after(60):
                result = await get(meta.info, tmp_path / "out", peers=[("127.0.0.1", port[0])], host="127.0.0.1",
                                   services=[webseed_service([base + payload.name])], resume=None)
            stop.set()
        log = access_log(tmp_path / "nginx")
    assert result.complete
    assert_identical(payload, tmp_path / "out" / payload.name)
    assert seeded[0].uploaded > 0, "the peer sent nothing"
    assert log.count(" 206 ") >= 1, "the web seed fetched nothing"


# -- misbehaving servers, beside a good one ---------------------------------------------------------

RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


def bad_server(data: bytes, mode: str):
    """A handler serving `data` at any path, wrongly in the way `mode` says."""

    async def handler(request) -> HttpResponse:
        if mode == "404":
            return HttpResponse(404, b"not here\n")
        match = RANGE.match(request.header("range", ""))
        if mode == "ignores-range" or match is None:
            return HttpResponse(200, data, "application/octet-stream")
        first, last = int(match.group(1)), int(match.group(2))
        if mode == "short":  # says and sends half the range asked
            last = first + (last - first) // 2
        body = data[first:last + 1]
        if mode == "wrong-bytes":
            body = bytes(b ^ 0x5A for b in body)
        headers = [("Content-Range", f"bytes {first}-{last}/{len(data)}")]
        if mode == "drip":  # a byte at a time, each well within the timeout between bytes

            async def write_body(send) -> None:
                for i in range(len(body)):
                    await send(body[i:i + 1])
                    await trio.sleep(0.2)

            return HttpResponse(206, content_type="application/octet-stream", headers=headers,
                                write_body=write_body, length=len(body))
        return HttpResponse(206, body, "application/octet-stream", headers)

    return handler


@pytest.mark.parametrize("mode", ["wrong-bytes", "404", "short", "ignores-range", "drip"])
async def test_a_bad_server_is_dropped_and_the_good_one_completes(tmp_path: Path, mode: str):
    payload = make_single_file(tmp_path / "www", size=1024 * KiB + 5)
    meta, _ = info_of(payload, tmp_path)
    events: list = []
    settings, rate = FAST_RETRY, "512k"
    if mode == "drip":  # dropped at its first request's deadline (~1.06 s), long before nginx is done (~2 s)
        settings, rate = replace(FAST_RETRY, max_failures=1, min_rate=1024 * KiB), "256k"
    with nginx_serving(tmp_path / "www", tmp_path / "nginx", extra=slow(rate)) as base:
        async with trio.open_nursery() as nursery:
            server = HttpServer(bad_server(payload.root.read_bytes(), mode))
            bad_port = await nursery.start(server.serve, "127.0.0.1", 0)
            bad = f"http://127.0.0.1:{bad_port}/{payload.name}"
            services = [recorder(events), webseed_service([bad, base + payload.name], settings)]
            with trio.fail_after(60):
                result = await get(meta.info, tmp_path / "out", services=services, resume=None)
            nursery.cancel_scope.cancel()
    assert result.complete
    assert_identical(payload, tmp_path / "out" / payload.name)
    failures = [e for e in events if isinstance(e, ev.WebSeedFailed)]
    assert any(e.url == bad and e.dropped for e in failures), failures
    assert all(e.url == bad for e in failures), "the good server was blamed"


async def test_a_session_uses_the_web_seeds_of_a_torrent_it_is_given(tmp_path: Path):
    """The daemon's path: a .torrent with a url-list, added to a session, downloads from it
    (and says so: webseedsSendingToUs in the RPC)."""
    import random

    from torrentish.session import SessionConfig, open_session

    payload = make_single_file(tmp_path / "www", size=256 * KiB + 7)
    with nginx_serving(tmp_path / "www", tmp_path / "nginx") as base:
        _, path = info_of(payload, tmp_path, url_list=[base])  # a directory URL: BEP 19 adds the name
        config = SessionConfig(state_dir=tmp_path / "state", download_dir=tmp_path / "out", listen_port=0,
                               host="127.0.0.1", lsd=False, dht=False, pex=False)
        async with open_session(config, rng=random.Random(1)) as session:
            t = await session.add(path)
            with trio.fail_after(60):
                while t.state != "seeding":
                    await session.next_pass()
            # Its rate covers the last few seconds: just after the download, it is still sending.
            sending = t.status().web_seeds_sending_to_us
    assert_identical(payload, tmp_path / "out" / payload.name)
    assert sending == 1
