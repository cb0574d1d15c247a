"""torrent-add of an http(s) URL: the .torrent fetched with the tracker client's bounded GET.

The body is capped at the .torrent size limit and the fetch at `timeout` seconds; a failure is
an RpcError (HTTP_ERROR) with one line naming the host. Only clients allowed to use the RPC at
all (loopback, or with the password) can make the daemon fetch a URL, as with Transmission.
"""

from __future__ import annotations

import trio

from torrentish.formats.bencoding import TORRENT_LIMITS
from torrentish.rpc.protocol import HTTP_ERROR, RpcError
from torrentish.services.tracker.http_client import http_get, open_http_client
from torrentish.services.tracker.protocol import TrackerError


async def fetch_torrent_url(url: str, timeout: float = 30.0) -> bytes:
    try:
        with trio.fail_after(timeout):
            async with open_http_client(timeout=timeout) as http:
                status, body = await http_get(http, url, limit=TORRENT_LIMITS.max_size)
    except TrackerError as error:
        raise RpcError(HTTP_ERROR, f"cannot fetch the torrent: {error}") from None
    except trio.TooSlowError:
        raise RpcError(HTTP_ERROR, f"cannot fetch the torrent: no answer within {timeout:g} s") from None
    if status != 200:
        raise RpcError(HTTP_ERROR, f"cannot fetch the torrent: HTTP status {status}")
    return body
