"""The RPC's HTTP side on 127.0.0.1, against a fake session: the 409 handshake, Basic auth, the
Host check, body limits, the web client's files, and the PyPI transmission-rpc client.

Real clients against the real session (transmission-remote, the web client in Chromium) are in
tests/test_rpc_clients.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import require_tool
from tests.support.fake_session import FakeConfig, FakeSession
from tests.test_rpc_methods import torrent_bytes
from torrentish.errors import TorrentishError
from torrentish.net.http_server import HttpRequest
from torrentish.rpc.methods import RpcHandler, RpcSettings
from torrentish.rpc.server import RpcServer, RpcServerConfig, check_exposure, host_allowed
from torrentish.rpc.static import resolve


def make_server(tmp_path: Path, **config) -> tuple[FakeSession, RpcServer]:
    downloads = tmp_path / "downloads"
    downloads.mkdir(exist_ok=True)
    session = FakeSession(FakeConfig(state_dir=tmp_path / "state", download_dir=downloads))
    handler = RpcHandler(session, RpcSettings(allowed_roots=(downloads,), wall_clock=lambda: 1_700_000_000.0))
    web = tmp_path / "web"
    (web / "sub").mkdir(parents=True, exist_ok=True)
    (web / "index.html").write_text("<h1>hello</h1>")
    (web / "sub" / "app.js").write_text("1;")
    (tmp_path / "secret.txt").write_text("secret")
    return session, RpcServer(handler, RpcServerConfig(port=0, web_home=web, **config), session_id="abc")


async def serving(nursery, server: RpcServer) -> str:
    port = await nursery.start(server.serve)
    return f"http://127.0.0.1:{port}"


async def test_session_id_handshake_and_rpc(tmp_path, nursery):
    _, server = make_server(tmp_path)
    base = await serving(nursery, server)
    async with httpx.AsyncClient() as client:
        first = await client.post(base + "/transmission/rpc", json={"method": "session-get"})
        assert first.status_code == 409 and first.headers["X-Transmission-Session-Id"] == "abc"
        wrong = await client.post(base + "/transmission/rpc", json={"method": "session-get"},
                                  headers={"X-Transmission-Session-Id": "abd"})
        assert wrong.status_code == 409
        ok = await client.post(base + "/transmission/rpc", json={"method": "session-get", "tag": 1},
                               headers={"X-Transmission-Session-Id": "abc"})
        assert ok.status_code == 200 and ok.json()["arguments"]["session-id"] == "abc"
        notify = await client.post(base + "/transmission/rpc", headers={"X-Transmission-Session-Id": "abc"},
                                   json={"jsonrpc": "2.0", "method": "session_stats"})
        assert notify.status_code == 204
        garbage = await client.post(base + "/transmission/rpc", content=b"{nope",
                                    headers={"X-Transmission-Session-Id": "abc"})
        assert garbage.status_code == 200 and "malformed JSON" in garbage.json()["result"]


async def test_host_check(tmp_path, nursery):
    _, server = make_server(tmp_path, host_whitelist=("*.lan",))
    base = await serving(nursery, server)
    async with httpx.AsyncClient() as client:
        for host, status in (("evil.example", 421), ("evil.example:9091", 421), ("localhost:1", 409),
                             ("127.0.0.1", 409), ("[::1]:9091", 409), ("box.lan", 409)):
            answer = await client.post(base + "/transmission/rpc", json={}, headers={"Host": host})
            assert answer.status_code == status, host
    assert not host_allowed(None, ()) and not host_allowed("", ())
    assert not host_allowed("127.0.0.1.evil.example", ())


async def test_basic_auth_and_lockout(tmp_path, nursery):
    _, server = make_server(tmp_path, username="me", password="pw", max_auth_failures=3)
    base = await serving(nursery, server)
    url = base + "/transmission/rpc"
    async with httpx.AsyncClient() as client:
        none = await client.post(url, json={})
        assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Basic")
        good = await client.post(url, json={}, auth=("me", "pw"))
        assert good.status_code == 409
        for _ in range(3):
            assert (await client.post(url, json={}, auth=("me", "guess"))).status_code == 401
        assert (await client.post(url, json={}, auth=("me", "pw"))).status_code == 403


def test_refuses_to_expose_without_a_password():
    check_exposure(RpcServerConfig(host="127.0.0.1"))
    check_exposure(RpcServerConfig(host="::1"))
    check_exposure(RpcServerConfig(host="0.0.0.0", username="u", password="p"))
    for host in ("0.0.0.0", "::", "192.168.1.5"):
        with pytest.raises(TorrentishError, match="password"):
            check_exposure(RpcServerConfig(host=host))


async def test_body_limit(tmp_path, nursery):
    _, server = make_server(tmp_path, max_body=1000)
    base = await serving(nursery, server)
    async with httpx.AsyncClient() as client:
        big = await client.post(base + "/transmission/rpc", content=b"x" * 5000,
                                headers={"X-Transmission-Session-Id": "abc"})
        assert big.status_code == 413
    # a body sent without Content-Length (chunked) is cut off as well
    stream = await trio.open_tcp_stream("127.0.0.1", int(base.rsplit(":", 1)[1]))
    chunk = b"x" * 800
    request = (b"POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
               b"X-Transmission-Session-Id: abc\r\n\r\n" + (b"320\r\n" + chunk + b"\r\n") * 3 + b"0\r\n\r\n")
    await stream.send_all(request)
    reply = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in reply:
            reply += await stream.receive_some(4096)
    assert reply.startswith(b"HTTP/1.1 413")
    await stream.aclose()


async def test_web_files_and_traversal(tmp_path, nursery):
    _, server = make_server(tmp_path)
    base = await serving(nursery, server)
    async with httpx.AsyncClient() as client:
        for path in ("/", "/transmission/web/", "/index.html"):
            page = await client.get(base + path)
            assert page.status_code == 200 and page.text == "<h1>hello</h1>", path
            assert page.headers["content-type"].startswith("text/html")
        js = await client.get(base + "/transmission/web/sub/app.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert (await client.get(base + "/transmission")).headers["location"] == "/transmission/web/"
        assert (await client.get(base + "/sub")).headers["location"] == "/sub/"
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/transmission/web/..%2fsecret.txt",
                     "/sub/..%5c..%5csecret.txt", "/%00", "//etc/passwd", "/.hidden", "/missing.js"):
            answer = await client.get(base + path)
            assert answer.status_code == 404 and b"secret" not in answer.content, path
    root = tmp_path / "web"
    assert resolve(root, "") == root / "index.html"
    assert resolve(root, "a/%2E%2E/b") is None and resolve(root, "/etc/passwd") is None


async def test_pypi_transmission_rpc_client(tmp_path, nursery):
    """The PyPI client speaks the old envelope: add, list, start/stop, remove against our server."""
    transmission_rpc = require_tool("transmission_rpc")
    session, server = make_server(tmp_path)
    base = await serving(nursery, server)
    port = int(base.rsplit(":", 1)[1])
    metainfo = torrent_bytes()

    def drive() -> dict:
        client = transmission_rpc.Client(host="127.0.0.1", port=port, timeout=10)
        added = client.add_torrent(metainfo, paused=True)
        listed = client.get_torrents()
        client.start_torrent(added.id)
        one = client.get_torrent(added.id)
        client.stop_torrent(added.id)
        client.remove_torrent(added.id, delete_data=True)
        return {"name": added.name, "listed": [t.name for t in listed], "status": str(one.status),
                "session": client.get_session().download_dir, "left": client.get_torrents()}

    result = await trio.to_thread.run_sync(drive)
    assert result["name"] == "demo" and result["listed"] == ["demo"]
    assert result["status"] == "downloading" and result["left"] == []
    assert result["session"] == str(tmp_path / "downloads")
    assert ("remove", 1, True) in session.calls


async def test_torrent_add_from_a_url(tmp_path, nursery):
    """torrent-add with an http URL fetches the .torrent (bounded); a failing URL is an error result."""
    import random

    from torrentish.rpc.fetch import fetch_torrent_url
    from torrentish.services.tracker.server import TrackerServer

    web = TrackerServer(rng=random.Random(1))
    web.add_file("/files/x.torrent", torrent_bytes("from-url"))
    web_port, _ = await nursery.start(web.serve, "127.0.0.1", 0)
    session, server = make_server(tmp_path)
    server.handler.settings.fetch_url = fetch_torrent_url
    base = await serving(nursery, server)
    headers = {"X-Transmission-Session-Id": "abc"}
    async with httpx.AsyncClient() as client:
        ok = await client.post(base + "/transmission/rpc", headers=headers, json={
            "method": "torrent-add", "arguments": {"filename": f"http://127.0.0.1:{web_port}/files/x.torrent"}})
        assert ok.json()["arguments"]["torrent-added"]["name"] == "from-url"
        missing = await client.post(base + "/transmission/rpc", headers=headers, json={
            "method": "torrent-add", "arguments": {"filename": f"http://127.0.0.1:{web_port}/nothing.torrent"}})
        assert missing.json()["result"] == "cannot fetch the torrent: HTTP status 404"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "OPTIONS"]),
       target=st.one_of(st.sampled_from(["/transmission/rpc", "/transmission/rpc/", "/rpc", "/", "/transmission",
                                          "/transmission/web/", "/index.html"]),
                        st.text(alphabet="/.%2e5c0abc\\?#", max_size=30).map(lambda t: "/" + t)),
       host=st.one_of(st.none(), st.sampled_from(["127.0.0.1", "localhost:9091", "evil.example", ""])),
       session_id=st.one_of(st.none(), st.just("abc"), st.text(max_size=10)),
       auth=st.one_of(st.none(), st.text(max_size=40), st.just("Basic bWU6cHc=")),
       body=st.binary(max_size=200))
async def test_fuzz_every_request_gets_an_answer(tmp_path, method, target, host, session_id, auth, body):
    """Whatever the request, respond() answers with a status from the expected set, never raises,
    and never serves a file from outside the web home."""
    _, server = make_server(tmp_path, username="me", password="pw", max_auth_failures=10**9)
    headers = {k: v for k, v in (("host", host), ("x-transmission-session-id", session_id),
                                 ("authorization", auth)) if v is not None}
    request = HttpRequest(method, target, headers, body, ("127.0.0.1", 1), {k: 1 for k in headers})
    response = await server.respond(request)
    assert response.status in (200, 204, 301, 401, 404, 405, 409, 421)
    assert b"secret" not in response.body
