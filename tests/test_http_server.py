"""The HTTP server's write timeout: a client that stops reading loses its connection (and its
slot), one that reads slowly but steadily gets the whole answer. Real loopback sockets, virtual
time (the clock jumps only while every task waits, here on a full socket buffer or a sleep)."""

import trio

from torrentish.net.http_server import HttpLimits, HttpResponse, HttpServer

BODY = bytes(range(256)) * (8 * 4096)  # 8 MiB: far more than the socket buffers hold
REQUEST = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"


async def _serve(nursery, limits: HttpLimits) -> tuple[HttpServer, int]:
    async def handler(request):
        return HttpResponse(200, BODY, content_type="application/octet-stream")

    server = HttpServer(handler, limits)
    port = await nursery.start(server.serve, "127.0.0.1", 0)
    return server, port


async def test_a_client_that_stops_reading_is_dropped_and_its_slot_freed(nursery, autojump_clock):
    server, port = await _serve(nursery, HttpLimits(max_connections=1, send_timeout=60.0))
    stalled = await trio.open_tcp_stream("127.0.0.1", port)
    await stalled.send_all(REQUEST)
    await stalled.receive_some(1024)  # the answer has started, then we read no more
    asked = trio.current_time()
    with trio.fail_after(600):
        while server.connections:
            await trio.sleep(1)
    assert 60.0 <= trio.current_time() - asked <= 62.0
    # The slot is free again: the next client gets a whole answer.
    client = await trio.open_tcp_stream("127.0.0.1", port)
    await client.send_all(REQUEST)
    received = bytearray()
    with trio.fail_after(600):
        while not received.endswith(BODY[-4096:]):
            received += await client.receive_some(1 << 20)
    assert received.endswith(BODY)
    await client.aclose()
    await stalled.aclose()


async def test_a_slow_reader_that_keeps_reading_gets_everything(nursery, autojump_clock):
    _, port = await _serve(nursery, HttpLimits(send_timeout=60.0))
    client = await trio.open_tcp_stream("127.0.0.1", port)
    await client.send_all(REQUEST)
    received = bytearray()
    started = trio.current_time()
    while not received.endswith(BODY[-4096:]):
        chunk = await client.receive_some(65536)
        assert chunk, "the server closed the connection before the end of the answer"
        received += chunk
        await trio.sleep(5)  # ~13 KiB/s: the whole answer takes far longer than send_timeout
    assert received.endswith(BODY)
    assert trio.current_time() - started > 10 * 60.0
    await client.aclose()

