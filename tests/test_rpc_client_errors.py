"""The remote client's error paths that tests/test_rpc_client.py leaves out: a daemon that keeps
changing its session id, no answer, unreachable hosts, broken connections; and fuzzing of whole
HTTP answers (any status, headers, body) and of torrent-get's table format. Each failure is one
line (RemoteError), never another exception. httpx.MockTransport: no sockets, except the last
test, where `torrentish remote` talks to a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_remote_cli import remote_process
from torrentish.rpc.client import RpcClient, _reason
from torrentish.rpc.replies import BadReply, RemoteError, torrents_of

URL = "http://127.0.0.1:9091/transmission/rpc"


def client_of(handler, **options) -> RpcClient:
    return RpcClient(URL, transport=httpx.MockTransport(handler), **options)


async def test_a_daemon_that_changes_its_id_on_every_request_is_given_up_on():
    count = []

    def fresh_id(request):
        count.append(1)
        return httpx.Response(409, headers={"X-Transmission-Session-Id": f"id-{len(count)}"})

    async with client_of(fresh_id) as rpc:
        with pytest.raises(RemoteError, match="keeps refusing the session id it hands out"):
            await rpc.call("session-get")
    assert len(count) == 3  # the first try, the retry with the id, one more: no loop


def raising(error: Exception):
    def handler(request):
        raise error
    return handler


@pytest.mark.parametrize("error, message", [
    (httpx.ReadTimeout("timed out"), f"no answer from {URL} within 5 s"),
    (httpx.ConnectTimeout("timed out"), f"no answer from {URL} within 5 s"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."),
     f"{URL}: Server disconnected without sending a response."),
    (httpx.ReadError("boom\nsecond line"), f"{URL}: boom"),
])
async def test_no_answer_and_broken_connections_are_one_line(error, message):
    async with client_of(raising(error), timeout=5) as rpc:
        with pytest.raises(RemoteError) as caught:
            await rpc.call("session-get")
    assert str(caught.value) == message


def connect_error(cause: BaseException) -> httpx.ConnectError:
    error = httpx.ConnectError("All connection attempts failed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("cause, reason", [
    (ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
    (BaseExceptionGroup("attempts", [OSError(113, "No route to host"), OSError(111, "refused")]),
     "No route to host"),
    (socket.gaierror(-2, "Name or service not known"), "Name or service not known"),
    (RuntimeError("something odd"), "something odd"),
])
async def test_an_unreachable_daemon_says_why_in_its_own_words(cause, reason):
    async with client_of(raising(connect_error(cause))) as rpc:
        with pytest.raises(RemoteError) as caught:
            await rpc.call("session-get")
    assert str(caught.value) == f"cannot connect to {URL}: {reason}"
    assert _reason(connect_error(cause)) == reason


headers = st.dictionaries(st.sampled_from(["X-Transmission-Session-Id", "Content-Type", "Location"]),
                          st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12), max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 599).filter(lambda s: s not in (101, 204, 304) and s >= 200), headers,
       st.binary(max_size=200) | st.text(max_size=100).map(str.encode))
async def test_any_http_answer_is_arguments_or_one_line(status, extra, body):
    async def run():
        async with client_of(lambda request: httpx.Response(status, headers=extra, content=body)) as rpc:
            return await rpc.call("session-get")

    try:
        result = await run()
    except RemoteError as error:
        assert "\n" not in str(error) and len(str(error)) < 1000
    else:
        assert status == 200 and isinstance(result, dict)


cells = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), unique=True, max_size=6).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(st.lists(cells, min_size=len(names), max_size=len(names)),
                                                     max_size=5))))
def test_the_table_format_reads_back_as_the_objects_it_encodes(table):
    names, rows = table
    objects = [dict(zip(names, row)) for row in rows]
    assert torrents_of({"torrents": [names, *rows]}) == objects
    assert torrents_of(json.loads(json.dumps({"torrents": objects}))) == objects
    if names and rows:
        with pytest.raises(BadReply):
            torrents_of({"torrents": [names, *rows, rows[0][:-1]]})  # a short row


class Scripted(http.server.BaseHTTPRequestHandler):
    """A bad 'daemon': the session id handshake, then whatever `answer` says."""

    answer: tuple[int, dict, bytes] = (200, {}, b"")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Transmission-Session-Id") != "sid":
            status, extra, body = 409, {"X-Transmission-Session-Id": "sid"}, b"conflict"
        else:
            status, extra, body = self.answer
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("answer, message", [
    ((200, {}, b"<html>not rpc</html>"), "the reply is not JSON (starts '<html>not rpc</html>')"),
    ((401, {}, b"no"), "wants a user name and password (--auth USER:PASSWORD)"),
    ((200, {}, b'{"result": "no such method"}'), "no such method"),
])
def test_the_command_prints_one_line_for_each(answer, message):
    handler = type("Handler", (Scripted,), {"answer": answer})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = remote_process(f"http://127.0.0.1:{server.server_address[1]}/transmission/rpc", "list")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
