"""Announce and scrape over HTTP(S), with httpx (on trio through anyio).

Replies are read up to 1 MiB (the bencoding limit for messages) and parsed by `http_protocol`;
every failure, from DNS to a hostile body, comes out as a one-line `TrackerError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from torrentish import __version__
from torrentish.formats.bencoding import MESSAGE_LIMITS
from torrentish.services.tracker import http_protocol as hp
from torrentish.services.tracker.protocol import AnnounceRequest, AnnounceResponse, ScrapeStats, TrackerError, TrackerFailure
from torrentish.net.http_body import read_limited

__all__ = ["open_http_client", "http_announce", "http_scrape", "http_get", "MAX_REPLY"]

MAX_REPLY = MESSAGE_LIMITS.max_size
USER_AGENT = f"torrentish/{__version__}"


def open_http_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """A client for tracker requests: short connect timeout, a few redirects, no compression.

    Environment proxies are not used (trust_env=False): a LAN tracker must be reached directly,
    as other BitTorrent clients do unless configured otherwise.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        follow_redirects=True,
        max_redirects=3,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        trust_env=False,
    )


def _where(url: str) -> str:
    try:
        return urlsplit(url).netloc or url[:80]
    except ValueError:
        return url[:80]


async def http_get(http: httpx.AsyncClient, url: str, limit: int = MAX_REPLY) -> tuple[int, bytes]:
    """(status, body) of a GET; the body is read up to `limit` bytes. Raises TrackerError."""
    try:
        async with http.stream("GET", url) as response:
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise TrackerError(f"{_where(url)}: reply is {encoding}-compressed though we asked for none")
            body = await read_limited(response, limit)
            if body is None:
                raise TrackerError(f"{_where(url)}: reply is larger than {limit} bytes")
            return response.status_code, body
    except httpx.HTTPError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrackerError(f"{_where(url)}: {reason}") from None
    except ValueError as exc:  # an URL httpx cannot use
        raise TrackerError(f"{_where(url)}: {exc}") from None


def _check_status(url: str, status: int, body: bytes) -> None:
    """Trackers may say why in a failure reason even with an error status: prefer their words."""
    if status == 200:
        return
    try:
        hp.parse_announce_reply(body)
    except TrackerFailure:
        raise
    except TrackerError:
        pass
    raise TrackerError(f"{_where(url)}: HTTP status {status}")


async def http_announce(http: httpx.AsyncClient, url: str, request: AnnounceRequest) -> AnnounceResponse:
    status, body = await http_get(http, hp.announce_url(url, request))
    _check_status(url, status, body)
    return hp.parse_announce_reply(body)


async def http_scrape(http: httpx.AsyncClient, url: str, info_hashes: Sequence[bytes]) -> dict[bytes, ScrapeStats]:
    """Scrape the tracker whose announce URL is `url`; TrackerError when it has no scrape URL."""
    target = hp.scrape_request_url(url, info_hashes)
    if target is None:
        raise TrackerError(f"{_where(url)}: this tracker has no scrape URL (BEP 48)")
    status, body = await http_get(http, target)
    _check_status(url, status, body)
    return hp.parse_scrape_reply(body)
