"""Requests to a Transmission RPC server and its replies, checked before anything uses them.

The client side of the protocol (rpc-spec, old envelope): a request is
``{"method": "torrent-get", "arguments": {...}, "tag": N}``; the reply
``{"result": "success" | "<error text>", "arguments": {...}, "tag": N}``. A reply comes from
another machine, so it is untrusted input: bounded in size by the caller, and here required to be
one JSON object of the right shape, or it is a `BadReply` with a one-line message. torrent-get's
torrents come as objects or, in the `table` format (rpc-version 16 and up), as a header row of
field names and one row per torrent; `torrents_of` gives objects either way.

Method and argument names are the old kebab/camel ones, which Transmission 3.00 (rpc-version
16), 4.x and the torrentish daemon all accept. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

from torrentish.errors import TorrentishError


class RemoteError(TorrentishError):
    """The daemon could not be asked, or did not answer usefully (one line for a person)."""


class BadReply(RemoteError):
    """What came back is not an RPC reply."""


class ErrorResult(RemoteError):
    """The daemon answered with an error result; `str()` is its text."""


def request_body(method: str, arguments: dict[str, Any] | None = None, tag: int | None = None) -> bytes:
    request: dict[str, Any] = {"method": method}
    if arguments:
        request["arguments"] = arguments
    if tag is not None:
        request["tag"] = tag
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode_reply(body: bytes, tag: int | None = None) -> dict[str, Any]:
    """The `arguments` of a successful reply; `BadReply` or `ErrorResult` otherwise."""
    try:
        reply = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise BadReply("the reply is nested too deeply to be an RPC reply") from None
    except (UnicodeDecodeError, ValueError):
        raise BadReply(f"the reply is not JSON ({_preview(body)})") from None
    if not isinstance(reply, dict):
        raise BadReply(f"the reply is a JSON {type(reply).__name__}, not an object")
    result = reply.get("result")
    if not isinstance(result, str):
        raise BadReply("the reply has no result")
    if tag is not None and "tag" in reply and reply["tag"] != tag:
        raise BadReply(f"the reply is to another request (tag {reply['tag']!r}, not {tag})")
    if result != "success":
        raise ErrorResult(_one_line(result) or "error without a message")
    arguments = reply.get("arguments", {})
    if not isinstance(arguments, dict):
        raise BadReply("the reply's arguments are not an object")
    return arguments


def torrents_of(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """torrent-get's torrents as a list of objects, from either format."""
    torrents = arguments.get("torrents")
    if not isinstance(torrents, list):
        raise BadReply("the torrent-get reply has no list of torrents")
    if not torrents or isinstance(torrents[0], dict):
        if not all(isinstance(torrent, dict) for torrent in torrents):
            raise BadReply("the torrent-get reply mixes objects with other values")
        return torrents
    header, *rows = torrents
    if not isinstance(header, list) or not all(isinstance(name, str) for name in header):
        raise BadReply("the torrent-get table does not start with a row of field names")
    for row in rows:
        if not isinstance(row, list) or len(row) != len(header):
            raise BadReply("a torrent-get table row does not match its header")
    return [dict(zip(header, row)) for row in rows]


def added_torrent(arguments: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """torrent-add's answer: (True if new, False if the daemon had it already; {id, name, hashString})."""
    for key, new in (("torrent-added", True), ("torrent-duplicate", False)):
        torrent = arguments.get(key)
        if isinstance(torrent, dict):
            return new, torrent
    raise BadReply("the torrent-add reply names no torrent")


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _preview(body: bytes, limit: int = 60) -> str:
    """The start of a bad reply, as text a person can place (an HTML error page, say)."""
    text = _one_line(body[: limit * 4].decode("utf-8", errors="replace"), limit)
    return f"starts {text!r}" if text else "empty"


def page_text(body: bytes, limit: int = 200) -> str:
    """The words of a short HTML or text error page (Transmission's 403 says why in HTML)."""
    text = body[:4096].decode("utf-8", errors="replace")
    text = re.sub(r"<[^>]*>", " ", text)
    return _one_line(text, limit)
