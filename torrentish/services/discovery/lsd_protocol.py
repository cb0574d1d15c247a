"""Local Service Discovery announces (BEP 14): HTTP-like text in one UDP multicast datagram.

    BT-SEARCH * HTTP/1.1\\r\\n
    Host: 239.192.152.143:6771\\r\\n
    Port: 6881\\r\\n
    Infohash: <40 hex digits>\\r\\n      (one or more)
    cookie: <opaque>\\r\\n                (optional; lets a sender ignore its own announces)
    \\r\\n\\r\\n

Pure. Parsing is lenient where libtorrent is (header names in any case, unknown headers and bad
info hashes skipped) and strict about size: a datagram over 1500 bytes is refused unread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from torrentish.errors import ProtocolError

__all__ = [
    "LSD_PORT",
    "GROUP4",
    "GROUP6",
    "MAX_PACKET",
    "LsdError",
    "LsdAnnounce",
    "host_header",
    "encode_announces",
    "parse_announce",
]

LSD_PORT = 6771
GROUP4 = "239.192.152.143"
GROUP6 = "ff15::efc0:988f"
MAX_PACKET = 1400  # what we send (BEP 14: avoid fragmentation)
MAX_DATAGRAM = 1500  # what we read
MAX_HEADERS = 64
MAX_COOKIE = 64
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_COOKIE = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_COOKIE)


class LsdError(ProtocolError):
    """A datagram on the LSD port that is not a usable BEP 14 announce."""


@dataclass(frozen=True)
class LsdAnnounce:
    port: int
    info_hashes: tuple[bytes, ...]
    cookie: str | None


def host_header(ipv6: bool) -> str:
    return f"[{GROUP6}]:{LSD_PORT}" if ipv6 else f"{GROUP4}:{LSD_PORT}"


def _packet(host: str, port: int, hashes: Sequence[bytes], cookie: str | None) -> bytes:
    lines = ["BT-SEARCH * HTTP/1.1", f"Host: {host}", f"Port: {port}"]
    lines += [f"Infohash: {h.hex()}" for h in hashes]
    if cookie:
        lines.append(f"cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n\r\n").encode("ascii")


def encode_announces(port: int, info_hashes: Sequence[bytes], cookie: str | None, ipv6: bool = False) -> list[bytes]:
    """As few datagrams as announce all the hashes, each at most MAX_PACKET bytes."""
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    if cookie is not None and not _COOKIE.fullmatch(cookie):
        raise ValueError("a cookie is 1-64 printable characters without spaces")
    host = host_header(ipv6)
    packets: list[bytes] = []
    batch: list[bytes] = []
    for info_hash in info_hashes:
        if len(info_hash) != 20:
            raise ValueError("info hashes are 20 bytes")
        if batch and len(_packet(host, port, [*batch, info_hash], cookie)) > MAX_PACKET:
            packets.append(_packet(host, port, batch, cookie))
            batch = []
        batch.append(info_hash)
    if batch:
        packets.append(_packet(host, port, batch, cookie))
    return packets


def parse_announce(data: bytes) -> LsdAnnounce:
    """Read one announce; raises LsdError when it is not one we can use."""
    if len(data) > MAX_DATAGRAM:
        raise LsdError(f"LSD datagram of {len(data)} bytes is larger than {MAX_DATAGRAM}")
    lines = data.decode("latin-1").split("\n")
    request = lines[0].rstrip("\r").split()
    if len(request) != 3 or request[0].upper() != "BT-SEARCH" or not request[2].upper().startswith("HTTP/"):
        raise LsdError("not a BT-SEARCH request")
    port: int | None = None
    hashes: dict[bytes, None] = {}
    cookie: str | None = None
    for count, line in enumerate(lines[1:]):
        line = line.rstrip("\r")
        if not line:
            break
        if count >= MAX_HEADERS:
            raise LsdError(f"LSD announce with more than {MAX_HEADERS} headers")
        name, sep, value = line.partition(":")
        if not sep:
            raise LsdError("LSD announce header without a colon")
        name, value = name.strip().lower(), value.strip()
        if name == "port":
            if not value.isascii() or not value.isdigit() or len(value) > 5 or not 0 < int(value) < 65536:
                raise LsdError(f"LSD announce with a bad port {value[:16]!r}")
            port = int(value)
        elif name == "infohash" and _HEX40.fullmatch(value):
            info_hash = bytes.fromhex(value)
            if any(info_hash):
                hashes[info_hash] = None
        elif name == "cookie" and _COOKIE.fullmatch(value):
            cookie = value
    if port is None:
        raise LsdError("LSD announce without a port")
    if not hashes:
        raise LsdError("LSD announce without a valid info hash")
    return LsdAnnounce(port, tuple(hashes), cookie)
