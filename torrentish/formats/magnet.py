"""Magnet URIs: parse and make them (BEP 9, BEP 53).

``magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>&x.pe=<peer>&ws=<web seed>&xl=<length>&so=<files>``

Decisions:
- The info hash is 40 hex digits or 32 base32 characters, either case. A v2 hash (BEP 52) is
  ``urn:btmh:`` and a SHA-256 multihash: ``1220`` and 64 hex digits; other multihashes are refused.
  A link with only a v2 hash joins the swarm of that hash truncated to 20 bytes (what trackers, DHT
  and handshakes use); with both (a hybrid) the v1 hash is the swarm and the v2 hash is checked
  against the metadata too. Two different hashes of one kind are refused.
- ``x.pe`` peers are hints: a malformed one is dropped, the link still works.
- ``xl`` and ``so`` change what we do, so a malformed one rejects the link.
- Limits: the URI is at most 64 KiB and 1000 parameters; ``so`` expands to at most 100,000 indices.
- Numbered parameters (``tr.1=``, ``xt.2=``) count as their base name. Unknown parameters are ignored.
- ``dn`` is form-decoded (``+`` is a space, as libtorrent reads it); URLs are percent-decoded only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus

from torrentish.errors import MagnetError

__all__ = ["Magnet", "parse_magnet", "make_magnet", "check_fetched_info", "MAX_URI_LENGTH", "MAX_PARAMETERS", "MAX_SELECTED"]

MAX_URI_LENGTH = 64 * 1024
MAX_PARAMETERS = 1000
MAX_SELECTED = 100_000
_MAX_INDEX_DIGITS = 7  # file indices are below metainfo.MAX_FILES (1,000,000)
_MAX_LENGTH = 1 << 50  # metainfo.MAX_TOTAL_LENGTH

_NUMBERED = re.compile(r"(xt|dn|tr|ws|xl|so|x\.pe)\.\d+")
_HEX_HASH = re.compile(r"[0-9a-fA-F]{40}")
_BASE32_HASH = re.compile(r"[A-Za-z2-7]{32}")
_MULTIHASH = re.compile(r"1220[0-9a-fA-F]{64}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_PEER = re.compile(r"(?:\[([^\]]+)\]|([^:\[\]]+)):([0-9]{1,5})")
_SELECTION = re.compile(r"([0-9]{1,%d})(?:-([0-9]{1,%d}))?" % (_MAX_INDEX_DIGITS, _MAX_INDEX_DIGITS))


@dataclass(frozen=True)
class Magnet:
    info_hash: bytes  # 20 bytes: the v1 hash, or the v2 hash truncated for a v2-only link
    display_name: str | None
    trackers: tuple[str, ...]
    exact_length: int | None
    peers: tuple[tuple[str, int], ...]  # x.pe; IPv6 addresses without brackets
    web_seeds: tuple[str, ...]  # ws
    select_only: tuple[int, ...] | None  # so= (BEP 53), expanded, sorted, unique
    info_hash_v2: bytes | None = None  # 32 bytes (btmh), when the link has one


def _info_hash(topic: str) -> bytes:
    """The 20 bytes of a urn:btih: topic (the part after the prefix)."""
    if _HEX_HASH.fullmatch(topic):
        return bytes.fromhex(topic)
    if _BASE32_HASH.fullmatch(topic):
        try:
            return base64.b32decode(topic.upper())
        except binascii.Error:  # cannot happen for 32 base32 characters, but never leak it
            pass
    raise MagnetError(f"xt=urn:btih: needs 40 hex digits or 32 base32 characters, not {topic[:64]!r}")


def _v2_hash(topic: str) -> bytes:
    """The 32 bytes of a urn:btmh: topic: a SHA-256 multihash (0x12, length 0x20, digest)."""
    if _MULTIHASH.fullmatch(topic):
        return bytes.fromhex(topic[4:])
    raise MagnetError(f"xt=urn:btmh: needs '1220' and 64 hex digits (a SHA-256 multihash), not {topic[:80]!r}")


def _peer(text: str) -> tuple[str, int] | None:
    """host:port or [ipv6]:port, or None when it is not a usable peer address."""
    m = _PEER.fullmatch(text)
    if not m:
        return None
    v6, host, port = m.group(1), m.group(2), int(m.group(3))
    if not 0 < port < 65536:
        return None
    if v6 is not None:
        try:
            return str(ipaddress.IPv6Address(v6)), port
        except ValueError:
            return None
    try:
        return str(ipaddress.IPv4Address(host)), port
    except ValueError:
        return (host, port) if _HOSTNAME.fullmatch(host) and not host.replace(".", "").isdigit() else None


def _selection(text: str) -> tuple[int, ...]:
    """BEP 53 so=0,2,4-6 expanded into sorted, unique file indices."""
    indices: set[int] = set()
    for part in text.split(","):
        m = _SELECTION.fullmatch(part)
        if not m:
            raise MagnetError(f"so= must be indices and ranges like 0,2,4-6, not {text[:64]!r}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise MagnetError(f"so= range {part!r} runs backwards")
        if len(indices) + (last - first + 1) > MAX_SELECTED:
            raise MagnetError(f"so= selects more than {MAX_SELECTED} files")
        indices.update(range(first, last + 1))
    return tuple(sorted(indices))


def _parameters(uri: str) -> list[tuple[str, str]]:
    """(lower-case base name, raw value) pairs of the query of a magnet URI."""
    if not isinstance(uri, str):
        raise TypeError(f"a magnet URI is a str, not {type(uri).__name__}")
    if len(uri) > MAX_URI_LENGTH:
        raise MagnetError(f"magnet URI is {len(uri)} characters, more than {MAX_URI_LENGTH}")
    uri = uri.strip()
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != "magnet" or not rest.startswith("?"):
        raise MagnetError(f"not a magnet URI (it must start with 'magnet:?'): {uri[:64]!r}")
    parts = [p for p in rest[1:].split("&") if p]
    if len(parts) > MAX_PARAMETERS:
        raise MagnetError(f"magnet URI has {len(parts)} parameters, more than {MAX_PARAMETERS}")
    pairs = []
    for part in parts:
        key, _, value = part.partition("=")
        key = key.lower()
        if _NUMBERED.fullmatch(key):
            key = key.rsplit(".", 1)[0]
        pairs.append((key, value))
    return pairs


def parse_magnet(uri: str) -> Magnet:
    """Parse a magnet URI; raises MagnetError if it is malformed or names no v1 torrent."""
    hashes: list[bytes] = []
    v2_hashes: list[bytes] = []
    name = length = selection = None
    trackers: dict[str, None] = {}  # ordered sets
    seeds: dict[str, None] = {}
    peers: dict[tuple[str, int], None] = {}
    for key, raw in _parameters(uri):
        value = unquote(raw, errors="replace")
        if key == "xt":
            urn = value[:9].lower()
            if urn == "urn:btih:":
                hashes.append(_info_hash(value[9:]))
            elif urn == "urn:btmh:":
                v2_hashes.append(_v2_hash(value[9:]))
        elif key == "dn" and name is None:
            name = unquote_plus(raw, errors="replace")
        elif key == "tr" and value:
            trackers[value] = None
        elif key == "ws" and value:
            seeds[value] = None
        elif key == "x.pe":
            peer = _peer(value)
            if peer is not None:
                peers[peer] = None
        elif key == "xl":
            if not value.isascii() or not value.isdigit() or len(value) > 16 or int(value) > _MAX_LENGTH:
                raise MagnetError(f"xl= must be a length in bytes, not {value[:64]!r}")
            length = int(value)
        elif key == "so":
            selection = _selection(value)
    if not hashes and not v2_hashes:
        raise MagnetError("magnet URI has no xt=urn:btih: or xt=urn:btmh: info hash")
    if any(h != hashes[0] for h in hashes) or any(h != v2_hashes[0] for h in v2_hashes):
        raise MagnetError("magnet URI names two different info hashes")
    v2 = v2_hashes[0] if v2_hashes else None
    return Magnet(
        info_hash=hashes[0] if hashes else v2[:20],  # type: ignore[index]
        info_hash_v2=v2,
        display_name=name,
        trackers=tuple(trackers),
        exact_length=length,
        peers=tuple(peers),
        web_seeds=tuple(seeds),
        select_only=selection,
    )


def _ranges(indices: tuple[int, ...]) -> str:
    """Sorted unique indices written compactly: (0, 2, 4, 5, 6) -> '0,2,4-6'."""
    out: list[str] = []
    values = sorted(set(indices))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(out)


def make_magnet(
    info_hash: bytes | None,
    name: str | None = None,
    trackers=(),
    length: int | None = None,
    peers=(),
    web_seeds=(),
    select_only=None,
    info_hash_v2: bytes | None = None,
) -> str:
    """A magnet URI that parse_magnet reads back to the same values (every value percent-encoded).

    info_hash None with info_hash_v2 makes a v2-only link (btmh alone).
    """
    if info_hash is None and info_hash_v2 is None:
        raise ValueError("a magnet link needs an info hash")
    if info_hash is not None and (not isinstance(info_hash, bytes) or len(info_hash) != 20):
        raise ValueError("info_hash must be 20 bytes")
    if info_hash_v2 is not None and (not isinstance(info_hash_v2, bytes) or len(info_hash_v2) != 32):
        raise ValueError("info_hash_v2 must be 32 bytes")
    parts = [f"xt=urn:btih:{info_hash.hex()}"] if info_hash is not None else []
    if info_hash_v2 is not None:
        parts.append(f"xt=urn:btmh:1220{info_hash_v2.hex()}")
    if name is not None:
        parts.append("dn=" + quote(name, safe=""))
    if length is not None:
        parts.append(f"xl={int(length)}")
    parts.extend("tr=" + quote(url, safe="") for url in trackers)
    parts.extend("ws=" + quote(url, safe="") for url in web_seeds)
    for host, port in peers:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        parts.append("x.pe=" + quote(address, safe="[]:"))
    if select_only is not None:
        parts.append("so=" + _ranges(tuple(select_only)))
    return "magnet:?" + "&".join(parts)


def check_fetched_info(magnet: Magnet, info) -> None:
    """The metadata fetched for a link must carry the link's full v2 hash too, when it has one.

    The fetch checked the 20 bytes it asked peers for; a link's 32-byte btmh hash is checked here.
    """
    if magnet.info_hash_v2 is not None and getattr(info, "info_hash_v2", None) != magnet.info_hash_v2:
        raise MagnetError(f"the metadata does not match the link's v2 hash {magnet.info_hash_v2.hex()}")
