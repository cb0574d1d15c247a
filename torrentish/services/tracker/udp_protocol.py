"""UDP tracker datagrams (BEP 15), both sides. Pure: bytes in, values out, and back.

Every request and reply starts with an action and the transaction id the client chose. A client
reads the header first (`reply_header`) and ignores datagrams whose transaction id is not the one
it waits for (a late answer to an earlier retransmission); then it parses the body, which must
carry the action it asked for, or the error action with the tracker's message.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from torrentish.services.tracker.protocol import (
    EVENTS,
    MAX_PEERS,
    MAX_SCRAPE_HASHES,
    AnnounceRequest,
    AnnounceResponse,
    ScrapeStats,
    TrackerError,
    TrackerFailure,
    check_interval,
    clean_message,
    decode_compact_peers,
    encode_compact_peers,
)

__all__ = [
    "PROTOCOL_ID",
    "CONNECT",
    "ANNOUNCE",
    "SCRAPE",
    "ERROR",
    "MAX_DATAGRAM",
    "ConnectRequest",
    "UdpAnnounce",
    "UdpScrape",
    "reply_header",
    "encode_connect",
    "parse_connect_reply",
    "encode_announce",
    "parse_announce_reply",
    "encode_scrape",
    "parse_scrape_reply",
    "parse_request",
    "encode_connect_reply",
    "encode_announce_reply",
    "encode_scrape_reply",
    "encode_error",
]

PROTOCOL_ID = 0x41727101980
CONNECT, ANNOUNCE, SCRAPE, ERROR = 0, 1, 2, 3
MAX_DATAGRAM = 65507
# BEP 15 event numbers: none, completed, started, stopped.
_EVENT_CODES = {"": 0, "completed": 1, "started": 2, "stopped": 3}
_EVENT_NAMES = {code: name for name, code in _EVENT_CODES.items()}
assert set(_EVENT_CODES) == set(EVENTS)

_HEADER = struct.Struct(">II")  # action, transaction id
_CONNECT = struct.Struct(">QII")  # protocol id, action, transaction id
_ANNOUNCE = struct.Struct(">QII20s20sQQQIIIiH")  # 98 bytes
_ANNOUNCE_REPLY = struct.Struct(">IIIII")  # action, tid, interval, leechers, seeders
_SCRAPE_ENTRY = struct.Struct(">III")  # seeders, completed, leechers


# ------------------------------------------------------------------------------------ client side
def reply_header(data: bytes) -> tuple[int, int]:
    """(action, transaction id) of a reply; TrackerError if it is shorter than a header."""
    if len(data) < _HEADER.size:
        raise TrackerError(f"UDP tracker reply of {len(data)} bytes is too short")
    return _HEADER.unpack_from(data)


def _expect(data: bytes, action: int, transaction_id: int, minimum: int) -> None:
    got, tid = reply_header(data)
    if tid != transaction_id:
        raise TrackerError("UDP tracker reply carries another transaction id")
    if got == ERROR:
        raise TrackerFailure(clean_message(data[_HEADER.size : _HEADER.size + 1024]))
    if got != action:
        raise TrackerError(f"UDP tracker replied with action {got} to a request with action {action}")
    if len(data) < minimum:
        raise TrackerError(f"UDP tracker reply of {len(data)} bytes is too short")


def encode_connect(transaction_id: int) -> bytes:
    return _CONNECT.pack(PROTOCOL_ID, CONNECT, transaction_id)


def parse_connect_reply(data: bytes, transaction_id: int) -> int:
    """The connection id from a connect reply."""
    _expect(data, CONNECT, transaction_id, 16)
    return struct.unpack_from(">Q", data, 8)[0]


def encode_announce(connection_id: int, transaction_id: int, request: AnnounceRequest) -> bytes:
    return _ANNOUNCE.pack(
        connection_id,
        ANNOUNCE,
        transaction_id,
        request.info_hash,
        request.peer_id,
        min(request.downloaded, (1 << 63) - 1),
        min(request.left, (1 << 63) - 1),
        min(request.uploaded, (1 << 63) - 1),
        _EVENT_CODES[request.event],
        0,  # IP: the source address of this datagram
        request.key & 0xFFFFFFFF,
        max(-1, min(request.numwant, (1 << 31) - 1)),
        request.port,
    )


def parse_announce_reply(data: bytes, transaction_id: int, ipv6: bool, max_peers: int = MAX_PEERS) -> AnnounceResponse:
    """An announce reply; peers are 6-byte (IPv4) or 18-byte (IPv6) entries by the socket's family."""
    _expect(data, ANNOUNCE, transaction_id, _ANNOUNCE_REPLY.size)
    _, _, interval, leechers, seeders = _ANNOUNCE_REPLY.unpack_from(data)
    peers = decode_compact_peers(data[_ANNOUNCE_REPLY.size :], 18 if ipv6 else 6, max_peers)
    return AnnounceResponse(
        interval=check_interval(interval, "interval"),
        peers=tuple(peers),
        complete=seeders,
        incomplete=leechers,
    )


def encode_scrape(connection_id: int, transaction_id: int, info_hashes: Sequence[bytes]) -> bytes:
    if not 0 < len(info_hashes) <= MAX_SCRAPE_HASHES:
        raise ValueError(f"a UDP scrape asks about 1 to {MAX_SCRAPE_HASHES} torrents")
    return _CONNECT.pack(connection_id, SCRAPE, transaction_id) + b"".join(info_hashes)


def parse_scrape_reply(data: bytes, transaction_id: int, info_hashes: Sequence[bytes]) -> dict[bytes, ScrapeStats]:
    """Stats in the order the hashes were asked; a reply with fewer entries is an error."""
    _expect(data, SCRAPE, transaction_id, _HEADER.size + _SCRAPE_ENTRY.size * len(info_hashes))
    stats = {}
    for i, info_hash in enumerate(info_hashes):
        seeders, completed, leechers = _SCRAPE_ENTRY.unpack_from(data, _HEADER.size + i * _SCRAPE_ENTRY.size)
        stats[info_hash] = ScrapeStats(complete=seeders, downloaded=completed, incomplete=leechers)
    return stats


# ------------------------------------------------------------------------------------ server side
@dataclass(frozen=True)
class ConnectRequest:
    transaction_id: int


@dataclass(frozen=True)
class UdpAnnounce:
    connection_id: int
    transaction_id: int
    request: AnnounceRequest


@dataclass(frozen=True)
class UdpScrape:
    connection_id: int
    transaction_id: int
    info_hashes: tuple[bytes, ...]


def parse_request(data: bytes) -> ConnectRequest | UdpAnnounce | UdpScrape:
    """A client's datagram; raises TrackerError for anything that is not a valid request.

    Announces may carry BEP 41 options after the 98 fixed bytes; they are ignored.
    """
    if len(data) < 16:
        raise TrackerError("datagram shorter than a request")
    first, action, transaction_id = _CONNECT.unpack_from(data)
    if action == CONNECT:
        if first != PROTOCOL_ID:
            raise TrackerError("connect request without the protocol id")
        return ConnectRequest(transaction_id)
    if action == ANNOUNCE:
        if len(data) < _ANNOUNCE.size:
            raise TrackerError("announce request is too short")
        fields = _ANNOUNCE.unpack_from(data)
        _, _, _, info_hash, peer_id, downloaded, left, uploaded, event, _ip, key, numwant, port = fields
        if event not in _EVENT_NAMES:
            raise TrackerError(f"announce with unknown event {event}")
        if port == 0:
            raise TrackerError("announce with port 0")
        request = AnnounceRequest(
            info_hash=info_hash,
            peer_id=peer_id,
            port=port,
            uploaded=uploaded,
            downloaded=downloaded,
            left=left,
            event=_EVENT_NAMES[event],
            numwant=numwant,
            key=key,
        )
        return UdpAnnounce(first, transaction_id, request)
    if action == SCRAPE:
        body = data[16:]
        if not body or len(body) % 20 or len(body) // 20 > MAX_SCRAPE_HASHES:
            raise TrackerError(f"scrape request must carry 1 to {MAX_SCRAPE_HASHES} info hashes")
        hashes = tuple(body[i : i + 20] for i in range(0, len(body), 20))
        return UdpScrape(first, transaction_id, hashes)
    raise TrackerError(f"unknown action {action}")


def encode_connect_reply(transaction_id: int, connection_id: int) -> bytes:
    return _HEADER.pack(CONNECT, transaction_id) + struct.pack(">Q", connection_id)


def encode_announce_reply(
    transaction_id: int, interval: int, leechers: int, seeders: int, peers: Sequence[tuple[str, int]], ipv6: bool
) -> bytes:
    """Only peers of the requester's address family fit a UDP reply (BEP 15)."""
    cap = 0xFFFFFFFF
    head = _ANNOUNCE_REPLY.pack(ANNOUNCE, transaction_id, interval, min(leechers, cap), min(seeders, cap))
    return head + encode_compact_peers(peers, 18 if ipv6 else 6)


def encode_scrape_reply(transaction_id: int, stats: Sequence[ScrapeStats]) -> bytes:
    cap = 0xFFFFFFFF
    body = b"".join(
        _SCRAPE_ENTRY.pack(min(s.complete, cap), min(s.downloaded, cap), min(s.incomplete, cap)) for s in stats
    )
    return _HEADER.pack(SCRAPE, transaction_id) + body


def encode_error(transaction_id: int, message: str) -> bytes:
    return _HEADER.pack(ERROR, transaction_id) + message.encode()[:1024]
