"""The BEP 10 extended handshake, and the extension ids in force on one connection.

An EXTENDED message with id 0 carries a bencoded dictionary: ``m`` maps extension names to the ids
the *sender* wants to receive them under, plus optional fields (``v`` client name, ``p`` listen
port, ``reqq`` request queue depth, ``yourip``, BEP 9's ``metadata_size``, ...).

BEP 10 asks receivers to be lenient, so a field of the wrong type is ignored on its own and the
rest of the handshake still counts. What raises ``ProtocolError``: a payload that is not one
bencoded dictionary within ``MESSAGE_LIMITS``, and values that can only come from a broken or
hostile peer - an ``m`` id outside 0..255, more than ``MAX_EXTENSIONS`` names, a ``reqq`` below 1,
a ``metadata_size`` outside 1..``TORRENT_LIMITS.max_size``. A ``p`` outside 1..65535 is ignored
rather than fatal: clients that do not listen send 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torrentish.formats import bencoding
from torrentish.errors import BencodeError, ProtocolError

__all__ = [
    "UT_METADATA",
    "UT_PEX",
    "UT_HOLEPUNCH",
    "MAX_EXTENSIONS",
    "ExtendedHandshake",
    "decode_extended_handshake",
    "encode_extended_handshake",
    "ExtensionRegistry",
]

UT_METADATA = "ut_metadata"  # BEP 9
UT_PEX = "ut_pex"  # BEP 11
UT_HOLEPUNCH = "ut_holepunch"  # BEP 55

MAX_EXTENSIONS = 256  # names in one 'm'; real clients list about a dozen
MAX_CLIENT_NAME = 100  # characters of 'v' kept (it is shown in the UI)
_KNOWN_KEYS = frozenset({b"m", b"v", b"p", b"reqq", b"yourip", b"metadata_size"})


@dataclass(frozen=True, slots=True)
class ExtendedHandshake:
    m: dict[str, int] = field(default_factory=dict)  # name -> id; 0 means disabled
    v: str | None = None  # client name and version
    p: int | None = None  # the sender's TCP listen port
    reqq: int | None = None  # requests the sender queues without dropping
    yourip: bytes | None = None  # the receiver's address as the sender sees it (4 or 16 bytes)
    metadata_size: int | None = None  # BEP 9: bytes of the info dictionary
    extra: dict[bytes, Any] = field(default_factory=dict)  # every other key, raw


def _is_int(value: Any) -> bool:
    return type(value) is int


def _printable(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")[:MAX_CLIENT_NAME]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _decode_m(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    if len(value) > MAX_EXTENSIONS:
        raise ProtocolError(f"extended handshake lists {len(value)} extensions (limit {MAX_EXTENSIONS})")
    names: dict[str, int] = {}
    for raw_name, ext_id in value.items():
        if not _is_int(ext_id):
            continue
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not 0 <= ext_id <= 255:
            raise ProtocolError(f"extended handshake gives {name[:40]!r} id {ext_id}, outside 0..255")
        names[name] = ext_id
    return names


def decode_extended_handshake(payload: bytes) -> ExtendedHandshake:
    """Read the payload of an EXTENDED message with id 0 (the byte after the id, onwards)."""
    try:
        value = bencoding.decode(payload, bencoding.MESSAGE_LIMITS)
    except BencodeError as error:
        raise ProtocolError(f"extended handshake: {error}") from None
    if not isinstance(value, dict):
        raise ProtocolError("extended handshake is not a dictionary")

    v = value.get(b"v")
    p = value.get(b"p")
    reqq = value.get(b"reqq")
    if _is_int(reqq) and reqq < 1:
        raise ProtocolError(f"extended handshake has reqq {reqq}")
    yourip = value.get(b"yourip")
    size = value.get(b"metadata_size")
    if _is_int(size) and not 1 <= size <= bencoding.TORRENT_LIMITS.max_size:
        raise ProtocolError(f"extended handshake has metadata_size {size}")
    return ExtendedHandshake(
        m=_decode_m(value.get(b"m")),
        v=_printable(v) if isinstance(v, bytes) else None,
        p=p if _is_int(p) and 1 <= p <= 65535 else None,
        reqq=reqq if _is_int(reqq) else None,
        yourip=yourip if isinstance(yourip, bytes) and len(yourip) in (4, 16) else None,
        metadata_size=size if _is_int(size) else None,
        extra={key: item for key, item in value.items() if key not in _KNOWN_KEYS},
    )


def encode_extended_handshake(
    m: Mapping[str, int],
    *,
    v: str | None = None,
    p: int | None = None,
    reqq: int | None = None,
    yourip: bytes | None = None,
    metadata_size: int | None = None,
    extra: Mapping[bytes, Any] | None = None,
) -> bytes:
    """The payload of our EXTENDED id-0 message (wrap it in ``Extended(0, payload)``).

    The fields are those of ``ExtendedHandshake``; ``None`` leaves a field out, ``m`` is always sent.
    """
    value: dict[bytes, Any] = dict(extra or {})
    value[b"m"] = {name.encode("utf-8"): ext_id for name, ext_id in m.items()}
    for key, item in (
        (b"v", v),
        (b"p", p),
        (b"reqq", reqq),
        (b"yourip", yourip),
        (b"metadata_size", metadata_size),
    ):
        if item is not None:
            value[key] = item
    return bencoding.encode(value)


class ExtensionRegistry:
    """Extension ids on one connection, one table per direction.

    BEP 10 ids are chosen by the receiver: the peer sends us ``ut_metadata`` under the id in *our*
    ``m`` (``local``), and we send it to the peer under the id in *its* ``m`` (``peer``).
    """

    def __init__(self, local: Mapping[str, int]) -> None:
        by_id: dict[int, str] = {}
        for name, ext_id in local.items():
            if not 1 <= ext_id <= 255 or ext_id in by_id:
                raise ValueError(f"local extension ids must be unique and in 1..255: {dict(local)}")
            by_id[ext_id] = name
        self._local = dict(local)
        self._local_by_id = by_id
        self._peer: dict[str, int] = {}

    @property
    def local(self) -> dict[str, int]:
        """Our ``m`` dictionary, for our extended handshake."""
        return dict(self._local)

    @property
    def peer(self) -> dict[str, int]:
        """The extensions the peer has enabled, with the ids to send them under."""
        return dict(self._peer)

    def local_name(self, ext_id: int) -> str | None:
        """Which of our extensions an incoming EXTENDED message with ``ext_id`` is (None: unknown)."""
        return self._local_by_id.get(ext_id)

    def peer_update(self, m: Mapping[str, int]) -> None:
        """Apply the ``m`` of a peer's extended handshake: additive, and id 0 disables a name."""
        for name, ext_id in m.items():
            if ext_id:
                self._peer[name] = ext_id
            else:
                self._peer.pop(name, None)

    def peer_id(self, name: str) -> int | None:
        """The id to send extension ``name`` to the peer with, or None if it does not support it."""
        return self._peer.get(name)
