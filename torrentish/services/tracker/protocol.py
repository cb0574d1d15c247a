"""What clients and trackers tell each other, whatever the transport (BEP 3, 7, 15, 23, 48).

Pure: no I/O, no clock. `http_protocol` and `udp_protocol` put these values on the wire; both
clients and the server speak in these dataclasses.

Every tracker reply is untrusted input: it is checked against the limits below and anything
wrong raises `TrackerError` (or `TrackerFailure` when the tracker said "no" in its own words).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torrentish.formats.compact import dialable, pack_addresses, unpack_addresses
from torrentish.errors import ProtocolError

__all__ = [
    "TrackerError",
    "TrackerFailure",
    "AnnounceRequest",
    "AnnounceResponse",
    "ScrapeStats",
    "EVENTS",
    "MAX_PEERS",
    "MAX_MESSAGE",
    "MAX_SCRAPE_HASHES",
    "encode_compact_peers",
    "decode_compact_peers",
    "clean_message",
    "peer_address",
]

EVENTS = ("", "started", "completed", "stopped")  # "" is a regular (periodic) announce
MAX_PEERS = 2000  # peers taken from one reply; more are ignored (a tracker never needs to send more)
MAX_MESSAGE = 500  # characters of a failure or warning text we keep
MAX_SCRAPE_HASHES = 74  # what fits one UDP scrape (BEP 15); HTTP scrapes use the same bound
MAX_INTERVAL = 7 * 24 * 3600  # an interval above a week is nonsense; refuse it rather than obey
MAX_COUNT = 1 << 40  # seeders/leechers/downloaded beyond this are nonsense


class TrackerError(ProtocolError):
    """A tracker could not be reached, or its reply is malformed or hostile."""


class TrackerFailure(TrackerError):
    """The tracker refused the request and said why (its 'failure reason', shown to the user)."""


@dataclass(frozen=True)
class AnnounceRequest:
    info_hash: bytes  # 20 bytes
    peer_id: bytes  # 20 bytes
    port: int  # where we accept peer connections
    uploaded: int = 0
    downloaded: int = 0
    left: int = 0
    event: str = ""  # one of EVENTS
    numwant: int = 50  # -1: the tracker's default
    key: int = 0  # 32 bits, constant for the session: lets the tracker know us across addresses
    tracker_id: bytes | None = None  # echoed back when a tracker gave one (HTTP only)
    compact: bool = True  # BEP 23: ask for the compact peer list
    no_peer_id: bool = True  # HTTP, non-compact: leave peer ids out

    def __post_init__(self) -> None:
        if len(self.info_hash) != 20 or len(self.peer_id) != 20:
            raise ValueError("info_hash and peer_id are 20 bytes")
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}")
        if not 0 <= self.port < 65536:
            raise ValueError("port out of range")


@dataclass(frozen=True)
class AnnounceResponse:
    interval: int  # seconds until the next regular announce
    peers: tuple[tuple[str, int], ...]  # (ip, port); IPv6 addresses without brackets
    min_interval: int | None = None  # never announce more often than this
    complete: int | None = None  # seeders
    incomplete: int | None = None  # leechers
    tracker_id: bytes | None = None
    warning: str | None = None  # "warning message": shown, but the reply is used


@dataclass(frozen=True)
class ScrapeStats:
    complete: int  # seeders
    downloaded: int  # completed downloads ever
    incomplete: int  # leechers


def clean_message(raw: bytes | str) -> str:
    """A tracker's text as one printable line of bounded length."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    text = "".join(c if c.isprintable() else " " for c in text[: MAX_MESSAGE * 2])
    text = " ".join(text.split())
    return text[:MAX_MESSAGE] + ("..." if len(text) > MAX_MESSAGE else "") or "(no reason given)"


def check_interval(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INTERVAL:
        raise TrackerError(f"tracker reply: {what} must be seconds between 0 and {MAX_INTERVAL}, not {value!r:.40}")
    return value


def check_count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise TrackerError(f"tracker reply: {what} must be a count, not {value!r:.40}")
    return value


def peer_address(host: str, port: int) -> tuple[str, int] | None:
    """(ip, port) in canonical form if it is a peer worth dialing, else None (see compact.dialable)."""
    return dialable(host, port)


def decode_compact_peers(data: bytes, width: int, limit: int = MAX_PEERS) -> list[tuple[str, int]]:
    """BEP 23 (6 bytes: IPv4 + port) or BEP 7 (18 bytes: IPv6 + port) peer strings.

    A length that is not a multiple of the width is an error; entries past `limit` are ignored,
    junk addresses dropped, duplicates removed.
    """
    try:
        addresses = unpack_addresses(data, width, limit)
    except ValueError as error:
        raise TrackerError(f"tracker reply: compact peer list: {error}") from None
    peers = (dialable(host, port) for host, port in addresses)
    return list(dict.fromkeys(peer for peer in peers if peer is not None))


def encode_compact_peers(peers: Iterable[tuple[str, int]], width: int) -> bytes:
    """The compact form of those peers whose address family matches `width` (6 or 18)."""
    return pack_addresses(peers, width)
