"""HTTP tracker messages (BEP 3, 7, 23, 48): query strings and bencoded replies, both sides.

Pure: builds and reads bytes and URLs; `http_client` and `server` move them. The client side
builds announce/scrape URLs and reads replies; the server side reads queries and builds replies.

Query strings carry raw bytes (info_hash, peer_id) percent-encoded: they are decoded to bytes with
`unquote_to_bytes`, never through text, and '+' is a literal '+' (clients percent-encode it).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit, urlunsplit

from torrentish.formats.bencoding import MESSAGE_LIMITS, decode, encode
from torrentish.errors import BencodeError
from torrentish.services.tracker.protocol import (
    EVENTS,
    MAX_PEERS,
    MAX_SCRAPE_HASHES,
    AnnounceRequest,
    AnnounceResponse,
    ScrapeStats,
    TrackerError,
    TrackerFailure,
    check_count,
    check_interval,
    clean_message,
    decode_compact_peers,
    encode_compact_peers,
    peer_address,
)

__all__ = [
    "announce_url",
    "scrape_url",
    "scrape_request_url",
    "parse_announce_reply",
    "parse_scrape_reply",
    "parse_query",
    "parse_announce_query",
    "parse_scrape_query",
    "encode_announce_reply",
    "encode_scrape_reply",
    "encode_failure",
    "DEFAULT_INTERVAL",
]

DEFAULT_INTERVAL = 1800  # when a reply leaves "interval" out
MAX_QUERY = 8192  # bytes of query string a server reads
MAX_QUERY_PARAMETERS = 200
_MAX_NUMBER_DIGITS = 20


def _q(value: bytes | str) -> str:
    data = value.encode() if isinstance(value, str) else value
    return quote_from_bytes(data, safe="")


def _with_query(base: str, query: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}{query}"


# ------------------------------------------------------------------------------------ client side
def announce_url(base: str, request: AnnounceRequest) -> str:
    """The GET URL of an announce to the tracker at `base` (which may carry a query of its own)."""
    params = [
        ("info_hash", _q(request.info_hash)),
        ("peer_id", _q(request.peer_id)),
        ("port", str(request.port)),
        ("uploaded", str(request.uploaded)),
        ("downloaded", str(request.downloaded)),
        ("left", str(request.left)),
        ("key", f"{request.key & 0xFFFFFFFF:08X}"),
    ]
    if request.event:
        params.append(("event", request.event))
    if request.numwant >= 0:
        params.append(("numwant", str(request.numwant)))
    params.append(("compact", "1" if request.compact else "0"))
    if request.no_peer_id:
        params.append(("no_peer_id", "1"))
    if request.tracker_id is not None:
        params.append(("trackerid", _q(request.tracker_id)))
    return _with_query(base, "&".join(f"{k}={v}" for k, v in params))


def scrape_url(announce: str) -> str | None:
    """BEP 48: the scrape URL of an announce URL, or None when the tracker has no scrape.

    The last path component must start with 'announce'; that word becomes 'scrape'.
    """
    parts = urlsplit(announce)
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        return None
    return urlunsplit(parts._replace(path=f"{head}/scrape{last[len('announce'):]}"))


def scrape_request_url(announce: str, info_hashes: Sequence[bytes]) -> str | None:
    base = scrape_url(announce)
    if base is None:
        return None
    return _with_query(base, "&".join(f"info_hash={_q(h)}" for h in info_hashes))


def _decode_dict(body: bytes) -> dict:
    try:
        reply = decode(body, MESSAGE_LIMITS)
    except BencodeError as exc:
        raise TrackerError(f"tracker reply is not valid bencoding: {exc}") from None
    if not isinstance(reply, dict):
        raise TrackerError("tracker reply is not a dictionary")
    if b"failure reason" in reply:
        raise TrackerFailure(clean_message(_text_value(reply[b"failure reason"])))
    return reply


def _text_value(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _dict_peers(entries: list, limit: int) -> list[tuple[str, int]]:
    """The original (non-compact) peer list: dicts with ip and port; bad entries are skipped."""
    peers: dict[tuple[str, int], None] = {}  # an ordered set
    for entry in entries[:limit]:
        if not isinstance(entry, dict):
            continue
        ip, port = entry.get(b"ip"), entry.get(b"port")
        if not isinstance(ip, bytes) or not isinstance(port, int) or isinstance(port, bool) or len(ip) > 64:
            continue
        address = peer_address(ip.decode("ascii", "replace"), port)
        if address is not None:
            peers[address] = None
    return list(peers)


def _peers(reply: dict, key: bytes, width: int, limit: int) -> list[tuple[str, int]]:
    value = reply.get(key)
    if value is None:
        return []
    if isinstance(value, bytes):
        return decode_compact_peers(value, width, limit)
    if isinstance(value, list) and key == b"peers":
        return _dict_peers(value, limit)
    raise TrackerError(f"tracker reply: {key.decode()} is neither a compact string nor a list")


def parse_announce_reply(body: bytes, max_peers: int = MAX_PEERS) -> AnnounceResponse:
    """Read an announce reply; raises TrackerFailure (the tracker said no) or TrackerError."""
    reply = _decode_dict(body)
    peers = dict.fromkeys(_peers(reply, b"peers", 6, max_peers))
    peers.update(dict.fromkeys(_peers(reply, b"peers6", 18, max(0, max_peers - len(peers)))))
    interval = check_interval(reply.get(b"interval", DEFAULT_INTERVAL), "interval")
    min_interval = reply.get(b"min interval")
    complete, incomplete = reply.get(b"complete"), reply.get(b"incomplete")
    tracker_id, warning = reply.get(b"tracker id"), reply.get(b"warning message")
    if tracker_id is not None and (not isinstance(tracker_id, bytes) or len(tracker_id) > 256):
        raise TrackerError("tracker reply: tracker id must be a short string")
    return AnnounceResponse(
        interval=interval,
        peers=tuple(peers),
        min_interval=None if min_interval is None else check_interval(min_interval, "min interval"),
        complete=None if complete is None else check_count(complete, "complete"),
        incomplete=None if incomplete is None else check_count(incomplete, "incomplete"),
        tracker_id=tracker_id,
        warning=None if warning is None else clean_message(_text_value(warning)),
    )


def parse_scrape_reply(body: bytes, max_files: int = MAX_SCRAPE_HASHES) -> dict[bytes, ScrapeStats]:
    """Read a scrape reply: info hash -> stats. Entries beyond `max_files` are ignored."""
    reply = _decode_dict(body)
    files = reply.get(b"files", {})
    if not isinstance(files, dict):
        raise TrackerError("scrape reply: files is not a dictionary")
    stats: dict[bytes, ScrapeStats] = {}
    for info_hash, entry in list(files.items())[:max_files]:
        if len(info_hash) != 20 or not isinstance(entry, dict):
            raise TrackerError("scrape reply: files must map 20-byte info hashes to dictionaries")
        stats[info_hash] = ScrapeStats(
            complete=check_count(entry.get(b"complete", 0), "complete"),
            downloaded=check_count(entry.get(b"downloaded", 0), "downloaded"),
            incomplete=check_count(entry.get(b"incomplete", 0), "incomplete"),
        )
    return stats


# ------------------------------------------------------------------------------------ server side
def parse_query(query: bytes | str) -> dict[str, list[bytes]]:
    """name -> raw values of a query string (without the '?'); raises TrackerError."""
    if isinstance(query, str):
        query = query.encode("latin-1", "replace")
    if len(query) > MAX_QUERY:
        raise TrackerError(f"query string longer than {MAX_QUERY} bytes")
    parts = [p for p in query.split(b"&") if p]
    if len(parts) > MAX_QUERY_PARAMETERS:
        raise TrackerError(f"more than {MAX_QUERY_PARAMETERS} query parameters")
    params: dict[str, list[bytes]] = {}
    for part in parts:
        name, _, value = part.partition(b"=")
        key = unquote_to_bytes(name).decode("latin-1")
        params.setdefault(key, []).append(unquote_to_bytes(value))
    return params


def _one(params: dict[str, list[bytes]], name: str) -> bytes | None:
    values = params.get(name)
    return values[0] if values else None


def _number(params: dict[str, list[bytes]], name: str, default: int | None, low: int, high: int) -> int:
    raw = _one(params, name)
    if raw is None:
        if default is None:
            raise TrackerError(f"announce is missing {name}")
        return default
    text = raw.decode("ascii", "replace")
    if not (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())) or len(text) > _MAX_NUMBER_DIGITS:
        raise TrackerError(f"{name} must be a number")
    value = int(text)
    if not low <= value <= high:
        raise TrackerError(f"{name} out of range")
    return value


def _hash_param(value: bytes | None, name: str) -> bytes:
    if value is None or len(value) != 20:
        raise TrackerError(f"{name} must be 20 bytes")
    return value


def parse_announce_query(query: bytes | str) -> AnnounceRequest:
    """The announce a client sent (its query string); raises TrackerError with the reason."""
    params = parse_query(query)
    event = (_one(params, "event") or b"").decode("ascii", "replace")
    raw_key = (_one(params, "key") or b"").decode("ascii", "replace")
    try:
        key = int(raw_key, 16) & 0xFFFFFFFF if raw_key and len(raw_key) <= 8 else 0
    except ValueError:
        key = 0
    tracker_id = _one(params, "trackerid")
    return AnnounceRequest(
        info_hash=_hash_param(_one(params, "info_hash"), "info_hash"),
        peer_id=_hash_param(_one(params, "peer_id"), "peer_id"),
        port=_number(params, "port", None, 1, 65535),
        uploaded=_number(params, "uploaded", 0, 0, 1 << 62),
        downloaded=_number(params, "downloaded", 0, 0, 1 << 62),
        left=_number(params, "left", None, 0, 1 << 62),
        event=event if event in EVENTS else "",
        numwant=_number(params, "numwant", -1, -1, 1 << 31),
        key=key,
        tracker_id=tracker_id[:256] if tracker_id else None,
        compact=_one(params, "compact") != b"0",
        no_peer_id=_one(params, "no_peer_id") == b"1",
    )


def parse_scrape_query(query: bytes | str) -> list[bytes]:
    """The info hashes a scrape asks about (at least one, at most MAX_SCRAPE_HASHES)."""
    hashes = parse_query(query).get("info_hash", [])
    if not hashes:
        raise TrackerError("scrape needs at least one info_hash (no full scrapes here)")
    if len(hashes) > MAX_SCRAPE_HASHES:
        raise TrackerError(f"scrape asks about more than {MAX_SCRAPE_HASHES} torrents")
    return list(dict.fromkeys(_hash_param(h, "info_hash") for h in hashes))


def encode_announce_reply(
    *,
    interval: int,
    peers: Sequence[tuple[str, int, bytes]],
    compact: bool,
    no_peer_id: bool = True,
    min_interval: int | None = None,
    complete: int = 0,
    incomplete: int = 0,
    warning: str | None = None,
    tracker_id: bytes | None = None,
) -> bytes:
    """The bencoded reply; peers are (ip, port, peer_id). Compact: IPv4 in peers, IPv6 in peers6."""
    reply: dict = {b"interval": interval, b"complete": complete, b"incomplete": incomplete}
    if min_interval is not None:
        reply[b"min interval"] = min_interval
    if compact:
        addresses = [(ip, port) for ip, port, _ in peers]
        reply[b"peers"] = encode_compact_peers(addresses, 6)
        v6 = encode_compact_peers(addresses, 18)
        if v6:
            reply[b"peers6"] = v6
    else:
        entries = []
        for ip, port, peer_id in peers:
            entry: dict = {b"ip": ip.encode(), b"port": port}
            if not no_peer_id:
                entry[b"peer id"] = peer_id
            entries.append(entry)
        reply[b"peers"] = entries
    if warning:
        reply[b"warning message"] = warning.encode()
    if tracker_id is not None:
        reply[b"tracker id"] = tracker_id
    return encode(reply)


def encode_scrape_reply(stats: dict[bytes, ScrapeStats]) -> bytes:
    return encode(
        {
            b"files": {
                h: {b"complete": s.complete, b"downloaded": s.downloaded, b"incomplete": s.incomplete}
                for h, s in stats.items()
            }
        }
    )


def encode_failure(reason: str) -> bytes:
    return encode({b"failure reason": reason.encode()})
