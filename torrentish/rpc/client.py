"""A client of Transmission's RPC: transmission-daemon, or the torrentish daemon (same protocol).

    async with RpcClient("http://127.0.0.1:9091/transmission/rpc", auth=("me", "secret")) as rpc:
        torrents = await rpc.torrents(["id", "name", "percentDone"])
        await rpc.call("torrent-stop", {"ids": [1]})

Over HTTP with httpx (on trio, like every torrentish task): the X-Transmission-Session-Id
handshake (a 409 carries the id to send; we send the request again with it, and again whenever
the daemon restarts and changes it), HTTP Basic auth, a deadline for every request and a cap on
the size of a reply. Whatever goes wrong is a `RemoteError` with one line that says what and
where: connection refused, 401 (wrong or missing --auth), 403 (the daemon's whitelist), a reply
that is not an RPC reply (torrentish/rpc/replies.py), or the daemon's own error result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from torrentish import __version__
from torrentish.rpc.replies import (
    BadReply,
    RemoteError,
    decode_reply,
    page_text,
    request_body,
    torrents_of,
)

DEFAULT_URL = "http://127.0.0.1:9091/transmission/rpc"
SESSION_HEADER = "X-Transmission-Session-Id"
MAX_REPLY = 64 * 1024 * 1024  # torrent-get of every file of thousands of torrents fits
TIMEOUT = 30.0  # seconds for one request (a torrent-add by URL makes the daemon fetch it)
TABLE_FORMAT_SINCE = 16  # rpc-version that brought torrent-get's `table` format (Transmission 3.00)

Ids = Sequence[int | str] | None  # torrent ids and info hashes (40 hex); None: every torrent


def normalize_url(text: str) -> str:
    """An RPC URL from what a person types: ``host:9091`` or ``http://host:9091`` get the
    scheme and Transmission's path (/transmission/rpc); anything else must be http(s)."""
    text = text.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"not an http:// or https:// URL of an RPC server: {text!r}")
    path = parts.path if parts.path not in ("", "/") else "/transmission/rpc"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def parse_auth(text: str) -> tuple[str, str]:
    """USER:PASSWORD (the password may contain colons)."""
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise RemoteError("--auth is USER:PASSWORD")
    return user, password


class RpcClient:
    def __init__(self, url: str = DEFAULT_URL, auth: tuple[str, str] | None = None, *,
                 timeout: float = TIMEOUT, max_reply: int = MAX_REPLY,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url = normalize_url(url)
        self.auth = auth
        self.timeout = timeout
        self.max_reply = max_reply
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._session_id: str | None = None
        self._tag = 0
        self.rpc_version = 0  # learned from session-get
        self.speed_bytes = 1000  # bytes in the "K" of speed limits (session-get's units)

    async def __aenter__(self) -> RpcClient:
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(*self.auth) if self.auth else None,
            timeout=self.timeout,
            transport=self._transport,
            follow_redirects=False,
            headers={"User-Agent": f"torrentish/{__version__}"},
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(self, method: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one RPC method; its reply's arguments."""
        self._tag += 1
        body = request_body(method, arguments, self._tag)
        for _ in range(3):  # a 409 (new session id) and the retry; a third only if it changed again
            headers = {"Content-Type": "application/json"}
            if self._session_id:
                headers[SESSION_HEADER] = self._session_id
            status, session_id, content = await self._post(body, headers)
            if status == 409 and session_id and session_id != self._session_id:
                self._session_id = session_id
                continue
            if status != 200:
                raise RemoteError(self._describe_status(status, content))
            return decode_reply(content, self._tag)
        raise RemoteError(f"{self.url} keeps refusing the session id it hands out")

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
        """(status, session id header, body) of one POST; the body read up to max_reply."""
        assert self._http is not None, "use RpcClient as an async context manager"
        try:
            async with self._http.stream("POST", self.url, content=body, headers=headers) as response:
                limit = self.max_reply if response.status_code == 200 else 4096  # error pages: a preview
                declared = response.headers.get("Content-Length", "")
                if response.status_code == 200 and declared.isdigit() and int(declared) > limit:
                    raise BadReply(f"the reply from {self.url} is {int(declared)} bytes, over the {limit} allowed")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():  # decoded: a compressed bomb counts in full
                    if size + len(chunk) > limit:
                        if response.status_code != 200:
                            chunks.append(chunk[: limit - size])
                            break
                        raise BadReply(f"the reply from {self.url} is over the {limit} bytes allowed")
                    size += len(chunk)
                    chunks.append(chunk)
                return response.status_code, response.headers.get(SESSION_HEADER), b"".join(chunks)
        except BadReply as error:
            raise RemoteError(str(error)) from None
        except httpx.TimeoutException:
            raise RemoteError(f"no answer from {self.url} within {self.timeout:g} s") from None
        except httpx.ConnectError as error:
            raise RemoteError(f"cannot connect to {self.url}: {_reason(error)}") from None
        except httpx.HTTPError as error:
            raise RemoteError(f"{self.url}: {_reason(error)}") from None

    def _describe_status(self, status: int, content: bytes) -> str:
        said = page_text(content)
        if status == 401:
            if self.auth is None:
                return f"{self.url} wants a user name and password (--auth USER:PASSWORD)"
            return f"{self.url} refused the user name and password (HTTP 401)"
        if status == 403:
            return f"{self.url} refuses this client (HTTP 403{': ' + said if said else ''})"
        if status == 404:
            return f"no RPC at {self.url} (HTTP 404): check --url"
        if 300 <= status < 400:
            return f"{self.url} redirects elsewhere (HTTP {status}): check --url"
        if status == 409:
            return f"{self.url} answered 409 without a session id: not a Transmission RPC server?"
        return f"{self.url} answered HTTP {status}{': ' + said if said else ''}"

    # -- the methods torrentish remote and the tests use ------------------------------------

    async def session(self) -> dict[str, Any]:
        """session-get; remembers the rpc-version and the unit of speed limits."""
        session = await self.call("session-get")
        version = session.get("rpc-version")
        self.rpc_version = version if isinstance(version, int) else 0
        units = session.get("units")
        if isinstance(units, dict) and isinstance(units.get("speed-bytes"), int) and units["speed-bytes"] > 0:
            self.speed_bytes = units["speed-bytes"]
        return session

    async def torrents(self, fields: Sequence[str], ids: Ids = None) -> list[dict[str, Any]]:
        """torrent-get of these fields, in the compact table format when the daemon has it."""
        arguments: dict[str, Any] = {"fields": list(fields)}
        if ids is not None:
            arguments["ids"] = list(ids)
        if self.rpc_version >= TABLE_FORMAT_SINCE:
            arguments["format"] = "table"
        return torrents_of(await self.call("torrent-get", arguments))


def _reason(error: httpx.HTTPError) -> str:
    """The innermost cause's words: "Connection refused" rather than httpx's wrapper text."""
    cause: BaseException = error
    while True:  # trio's happy-eyeballs connect raises a group of the attempts' errors
        if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
        elif cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
        else:
            break
    if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
        return os.strerror(cause.errno)  # "Connection refused", without the address again
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror  # a resolver error: "Name or service not known"
    text = str(cause) or str(error) or type(error).__name__
    return text.splitlines()[0]
