"""One range request to a web seed, with httpx (on trio through anyio).

The reply is checked against the range asked (formats/webseed.py) before any of its body is
read, and the body is read only up to that range's length: a server that sends more, less, or
something else fails the request with a one-line `WebSeedError`; nothing is buffered beyond the
chunk in hand, which goes to `on_data` at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from torrentish import __version__
from torrentish.errors import TorrentishError
from torrentish.formats.webseed import Segment, check_range_reply

__all__ = ["WebSeedError", "open_web_client", "fetch_segment"]


class WebSeedError(TorrentishError):
    pass


def open_web_client(*, timeout: float, connect_timeout: float, max_redirects: int,
                    connections: int) -> httpx.AsyncClient:
    """A client for one web seed: bounded redirects and timeouts, no compression, no proxies
    from the environment (as for trackers: a LAN server is reached directly)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=max_redirects,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"User-Agent": f"torrentish/{__version__}", "Accept-Encoding": "identity"},
        trust_env=False,
    )


async def fetch_segment(http: httpx.AsyncClient, segment: Segment, on_data: Callable[[bytes], None],
                        pace: Callable[[int], Awaitable[None]]) -> None:
    """Fetch `segment`, handing its bytes in order to `on_data`; `pace(n)` after each chunk
    (rate accounting and limits). Raises WebSeedError on anything but exactly the range."""
    try:
        async with http.stream("GET", segment.url, headers={"Range": segment.range_header()}) as reply:
            headers = {k.lower(): v for k, v in reply.headers.items()}
            problem = check_range_reply(reply.status_code, headers, segment.start, segment.length,
                                        segment.file_length)
            if problem is not None:
                raise WebSeedError(problem)
            got = 0
            async for chunk in reply.aiter_raw():
                if got + len(chunk) > segment.length:
                    raise WebSeedError(f"reply longer than the {segment.length} bytes asked")
                got += len(chunk)
                on_data(chunk)
                await pace(len(chunk))
            if got < segment.length:
                raise WebSeedError(f"reply ended after {got} of {segment.length} bytes")
    except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WebSeedError(reason) from None
    except (httpx.InvalidURL, ValueError) as exc:
        raise WebSeedError(f"unusable URL: {exc}") from None
