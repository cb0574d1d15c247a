"""torrentish/rpc/client.py and replies.py: the session-id handshake, auth, and every way a reply
can be wrong, against scripted HTTP answers (httpx.MockTransport; no sockets). The same client
against real daemons: tests/test_remote_cli.py."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.rpc.client import RpcClient, normalize_url, parse_auth
from torrentish.rpc.replies import BadReply, ErrorResult, RemoteError, decode_reply, torrents_of

URL = "http://127.0.0.1:9091/transmission/rpc"


class FakeDaemon:
    """Answers like transmission-daemon: 409 with a session id until the request carries it."""

    def __init__(self, session_id="first", auth=None):
        self.session_id = session_id
        self.auth = auth
        self.requests: list[httpx.Request] = []
        self.answer = lambda request, body: {"result": "success", "arguments": {}, "tag": body.get("tag")}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return httpx.Response(401, text="<h1>401: Unauthorized</h1>")
        if request.headers.get("X-Transmission-Session-Id") != self.session_id:
            return httpx.Response(409, headers={"X-Transmission-Session-Id": self.session_id},
                                  text="<h1>409: Conflict</h1>")
        reply = self.answer(request, json.loads(request.content))
        return reply if isinstance(reply, httpx.Response) else httpx.Response(200, json=reply)


def client_for(daemon, **options) -> RpcClient:
    return RpcClient(URL, transport=httpx.MockTransport(daemon), **options)


async def test_the_session_id_handshake_and_a_changed_id():
    daemon = FakeDaemon()
    async with client_for(daemon) as rpc:
        assert await rpc.call("session-stats") == {}
        assert [r.headers.get("X-Transmission-Session-Id") for r in daemon.requests] == [None, "first"]
        await rpc.call("session-stats")
        assert len(daemon.requests) == 3  # the id is remembered
        daemon.session_id = "after-restart"
        await rpc.call("session-stats")
        assert [r.headers.get("X-Transmission-Session-Id") for r in daemon.requests[3:]] == ["first", "after-restart"]
    bodies = [json.loads(r.content) for r in daemon.requests]
    assert {b["method"] for b in bodies} == {"session-stats"}


async def test_a_409_without_a_usable_id_is_an_error_not_a_loop():
    def always_409(request):
        return httpx.Response(409, text="conflict")

    async with RpcClient(URL, transport=httpx.MockTransport(always_409)) as rpc:
        with pytest.raises(RemoteError, match="409 without a session id"):
            await rpc.call("session-get")


async def test_basic_auth():
    daemon = FakeDaemon(auth=("alice", "pa:ss"))
    async with client_for(daemon, auth=parse_auth("alice:pa:ss")) as rpc:
        await rpc.call("session-stats")
    async with client_for(daemon) as rpc:
        with pytest.raises(RemoteError, match=r"wants a user name and password \(--auth USER:PASSWORD\)"):
            await rpc.call("session-stats")
    async with client_for(daemon, auth=("alice", "wrong")) as rpc:
        with pytest.raises(RemoteError, match="refused the user name and password"):
            await rpc.call("session-stats")


@pytest.mark.parametrize("status, body, message", [
    (403, "<h1>403: Forbidden</h1><p>Unauthorized IP Address.</p>", "refuses this client (HTTP 403: 403: Forbidden Unauthorized IP Address.)"),
    (404, "", "no RPC at http://127.0.0.1:9091/transmission/rpc (HTTP 404): check --url"),
    (301, "", "redirects elsewhere (HTTP 301)"),
    (500, "x" * 10_000, "answered HTTP 500: xxx"),
])
async def test_http_errors_are_one_line(status, body, message):
    async with RpcClient(URL, transport=httpx.MockTransport(lambda r: httpx.Response(status, text=body))) as rpc:
        with pytest.raises(RemoteError) as caught:
            await rpc.call("session-get")
    assert message in str(caught.value) and "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize("reply, error, message", [
    (b"<html>oops</html>", BadReply, "not JSON (starts '<html>oops</html>')"),
    (b"[1, 2]", BadReply, "a JSON list, not an object"),
    (b'{"arguments": {}}', BadReply, "has no result"),
    (b'{"result": "success", "arguments": []}', BadReply, "arguments are not an object"),
    (b'{"result": "invalid or corrupt torrent file"}', ErrorResult, "invalid or corrupt torrent file"),
    (b'{"result": "success", "tag": 99}', BadReply, "another request"),
    (b'{"result": NaN}', BadReply, "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, BadReply, "nested too deeply"),
])
async def test_bad_replies(reply, error, message):
    daemon = FakeDaemon()
    daemon.answer = lambda request, body: httpx.Response(200, content=reply)
    async with client_for(daemon) as rpc:
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            await rpc.call("session-get")


async def test_a_reply_over_the_size_limit_is_refused_while_it_streams():
    served = []

    def endless(request):
        async def chunks():
            for _ in range(1000):
                served.append(1)
                yield b" " * 65536
        return httpx.Response(200, content=chunks())

    async with RpcClient(URL, transport=httpx.MockTransport(endless), max_reply=1_000_000) as rpc:
        with pytest.raises(RemoteError, match="over the 1000000 bytes allowed"):
            await rpc.call("torrent-get")
    assert len(served) < 20  # stopped reading soon after the limit


async def test_a_declared_length_over_the_limit_is_refused_before_reading():
    def big(request):
        return httpx.Response(200, headers={"Content-Length": str(10**12)}, content=b"{}")

    async with RpcClient(URL, transport=httpx.MockTransport(big), max_reply=1000) as rpc:
        with pytest.raises(RemoteError, match="1000000000000 bytes, over the 1000 allowed"):
            await rpc.call("torrent-get")


async def test_session_then_torrents_in_the_table_format():
    daemon = FakeDaemon()
    seen = []

    def answer(request, body):
        seen.append(body)
        if body["method"] == "session-get":
            return {"result": "success", "arguments": {"rpc-version": 16, "units": {"speed-bytes": 1024}}}
        return {"result": "success", "arguments": {"torrents": [["id", "name"], [1, "a"], [2, "b"]]}}

    daemon.answer = answer
    async with client_for(daemon) as rpc:
        await rpc.session()
        assert rpc.speed_bytes == 1024
        assert await rpc.torrents(["id", "name"], [1, 2]) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert seen[-1]["arguments"] == {"fields": ["id", "name"], "ids": [1, 2], "format": "table"}


async def test_an_old_daemon_gets_the_objects_format():
    daemon = FakeDaemon()
    daemon.answer = lambda request, body: (
        {"result": "success", "arguments": {"rpc-version": 15}} if body["method"] == "session-get"
        else {"result": "success", "arguments": {"torrents": [{"id": 1}]}, "tag": body["tag"]})
    async with client_for(daemon) as rpc:
        await rpc.session()
        assert await rpc.torrents(["id"]) == [{"id": 1}]
    assert "format" not in json.loads(daemon.requests[-1].content)["arguments"]


def test_urls_and_credentials():
    assert normalize_url("nas:9091") == "http://nas:9091/transmission/rpc"
    assert normalize_url("https://nas/") == "https://nas/transmission/rpc"
    assert normalize_url("http://[::1]:9091/custom/rpc") == "http://[::1]:9091/custom/rpc"
    for bad in ("ftp://nas/rpc", "http://", "http:///rpc"):
        with pytest.raises(RemoteError):
            normalize_url(bad)
    assert parse_auth("me:a:b") == ("me", "a:b")
    for bad in ("nocolon", ":pw"):
        with pytest.raises(RemoteError):
            parse_auth(bad)


def test_torrents_of_checks_the_table():
    assert torrents_of({"torrents": []}) == []
    assert torrents_of({"torrents": [["id"]]}) == []
    for bad in ({}, {"torrents": {}}, {"torrents": [["id"], [1, 2]]}, {"torrents": [[1]]},
                {"torrents": [{"id": 1}, 5]}, {"torrents": [["id"], "row"]}):
        with pytest.raises(BadReply):
            torrents_of(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_reply_body_is_a_dict_or_a_remote_error(body):
    try:
        result = decode_reply(body, tag=1)
    except RemoteError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(result, dict)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_torrents_value_is_objects_or_a_bad_reply(value):
    try:
        torrents = torrents_of({"torrents": value})
    except BadReply:
        return
    assert all(isinstance(t, dict) for t in torrents)
