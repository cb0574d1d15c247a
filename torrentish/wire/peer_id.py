"""Peer ids (BEP 20): making ours, and naming the client behind someone else's.

Ours is Azureus-style: ``-TH0100-`` (client code TH, version 0.1.0) followed by 12 random
printable characters. ``client_name`` recognises the common styles seen in the wild:

- Azureus-style ``-XXabcd-``: two-letter client code, four version characters (0-9 then A-Z for
  10-35, as libtorrent and most others write them);
- Mainline-style ``M4-3-6--``: a letter, then version numbers separated by dashes;
- Shad0w-style ``S58B-----``: a letter, up to five version characters, padding and ``---``;
- a few one-offs: aria2 ``A2-1-36-0-``, BitComet/BitLord ``exbc``, XBT ``XBT054-``, MLDonkey.

Whatever the bytes, ``client_name`` returns a printable string and never raises: peer ids come
from the network.
"""

from __future__ import annotations

import random
import re
import string

from torrentish import __version__

__all__ = ["CLIENT_CODE", "make_peer_id", "client_name"]

CLIENT_CODE = "TH"
_RANDOM_ALPHABET = string.ascii_letters + string.digits
_BASE36 = string.digits + string.ascii_uppercase
_SHADOW_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase + ".-"

_AZUREUS_CLIENTS = {
    "AG": "Ares", "A~": "Ares", "AR": "Arctic", "AV": "Avicora", "AX": "BitPump", "AZ": "Azureus",
    "BB": "BitBuddy", "BC": "BitComet", "BF": "Bitflu", "BG": "BTG", "BI": "BiglyBT",
    "BR": "BitRocket", "BS": "BTSlave", "BT": "BitTorrent", "BW": "BitWombat",
    "BX": "~Bittorrent X", "CD": "Enhanced CTorrent", "CT": "CTorrent", "DE": "Deluge",
    "DP": "Propagate Data Client", "EB": "EBit", "ES": "electric sheep", "FD": "Free Download Manager",
    "FT": "FoxTorrent", "FW": "FrostWire", "FX": "Freebox BitTorrent", "GS": "GSTorrent",
    "HL": "Halite", "HN": "Hydranode", "KG": "KGet", "KT": "KTorrent", "LH": "LH-ABC",
    "LP": "Lphant", "LT": "libtorrent", "lt": "rTorrent/libtorrent", "LW": "LimeWire",
    "MO": "MonoTorrent", "MP": "MooPolice", "MR": "Miro", "MT": "MoonlightTorrent",
    "NX": "Net Transport", "PD": "Pando", "PI": "PicoTorrent", "qB": "qBittorrent",
    "QD": "QQDownload", "QT": "Qt 4 Torrent example", "RT": "Retriever", "S~": "Shareaza alpha/beta",
    "SB": "~Swiftbit", "SD": "Thunder", "SS": "SwarmScope", "ST": "SymTorrent", "st": "sharktorrent",
    "SZ": "Shareaza", "TH": "torrentish", "TL": "Tribler", "TN": "TorrentDotNET",
    "TR": "Transmission", "TS": "Torrentstorm", "TT": "TuoTu", "UL": "uLeecher!", "UM": "µTorrent Mac",
    "UT": "µTorrent", "UW": "µTorrent Web", "VG": "Vagaa", "WD": "WebTorrent Desktop",
    "WT": "BitLet", "WW": "WebTorrent", "WY": "FireTorrent", "XL": "Xunlei", "XT": "XanTorrent",
    "XX": "Xtorrent", "ZT": "ZipTorrent",
}  # fmt: skip
_SHADOW_CLIENTS = {
    "A": "ABC", "O": "Osprey Permaseed", "Q": "BTQueue", "R": "Tribler", "S": "Shadow",
    "T": "BitTornado", "U": "UPnP NAT Bit Torrent",
}  # fmt: skip
_MAINLINE_CLIENTS = {"M": "Mainline", "Q": "Queen Bee"}

_AZUREUS = re.compile(rb"-([A-Za-z~]{2})([0-9A-Za-z]{4})-")
_MAINLINE = re.compile(rb"([A-Z])(\d{1,3})-(\d{1,3})-(\d{1,3})-")
_SHADOW = re.compile(rb"([AOQRSTU])([0-9A-Za-z.-]{5})---")
_ARIA2 = re.compile(rb"A2-(\d{1,3})-(\d{1,3})-(\d{1,3})-")
_XBT = re.compile(rb"XBT(\d)(\d)(\d)([d-])-")
_MLDONKEY = re.compile(rb"-ML(\d{1,3}(?:\.\d{1,3}){1,3})-")


def _version_chars(version: str) -> str:
    """Four Azureus-style version characters for a dotted version: 0.1.0 -> 0100."""
    parts = [int(part) for part in re.findall(r"\d+", version)[:4]]
    parts += [0] * (4 - len(parts))
    return "".join(_BASE36[min(part, 35)] for part in parts)


def make_peer_id(rng: random.Random) -> bytes:
    """Our 20-byte peer id: ``-TH`` + version + ``-`` + 12 random letters and digits."""
    prefix = f"-{CLIENT_CODE}{_version_chars(__version__)}-"
    tail = "".join(rng.choice(_RANDOM_ALPHABET) for _ in range(20 - len(prefix)))
    return (prefix + tail).encode("ascii")


def _printable(raw: bytes) -> str:
    return "".join(chr(b) if 0x21 <= b <= 0x7E else "." for b in raw)


def _azureus_version(code: str, chars: str) -> str:
    if code == "TR":
        # Transmission: -TR2940- is 2.94, -TR3000- is 3.00; from 4.0 on, -TR4050- is 4.0.5.
        # A trailing Z marks a development build, X or B a beta.
        digits, tag = chars[:3], chars[3]
        if not digits.isdigit():
            return chars
        suffix = "+" if tag == "Z" else " beta" if tag in "XB" else ""
        if digits[0] in "0123":
            return f"{digits[0]}.{digits[1:]}{suffix}"
        return f"{digits[0]}.{digits[1]}.{digits[2]}{suffix}"
    if any(ch not in _BASE36 for ch in chars[:3]):
        return chars
    parts = [str(_BASE36.index(ch)) for ch in chars[:3]]
    # The fourth character is a build number when it is a digit, and a build tag (beta, stable,
    # ...) when it is a letter; only a non-zero build number is worth showing.
    if chars[3] in "123456789":
        parts.append(chars[3])
    return ".".join(parts)


def client_name(peer_id: bytes) -> str:
    """A human name for the client that made ``peer_id``, e.g. ``qBittorrent 4.6.5``."""
    peer_id = bytes(peer_id[:20])
    if match := _AZUREUS.match(peer_id):
        code, chars = match[1].decode(), match[2].decode()
        name = _AZUREUS_CLIENTS.get(code)
        if name is not None:
            return f"{name} {_azureus_version(code, chars)}"
    elif match := _ARIA2.match(peer_id):
        return f"aria2 {int(match[1])}.{int(match[2])}.{int(match[3])}"
    elif match := _MAINLINE.match(peer_id):
        name = _MAINLINE_CLIENTS.get(match[1].decode())
        if name is not None:
            return f"{name} {int(match[2])}.{int(match[3])}.{int(match[4])}"
    elif match := _SHADOW.match(peer_id):
        chars = match[2].decode().rstrip("-")
        if chars and "-" not in chars:
            version = ".".join(str(_SHADOW_ALPHABET.index(ch)) for ch in chars)
            return f"{_SHADOW_CLIENTS[match[1].decode()]} {version}"
    elif peer_id[:4] in (b"exbc", b"FUTB") and len(peer_id) >= 6:
        name = "BitLord" if peer_id[6:10] == b"LORD" else "BitComet"
        return f"{name} {peer_id[4]}.{peer_id[5]:02d}"
    elif match := _XBT.match(peer_id):
        debug = " (debug)" if match[4] == b"d" else ""
        return f"XBT Client {int(match[1])}.{int(match[2])}.{int(match[3])}{debug}"
    elif match := _MLDONKEY.match(peer_id):
        return f"MLDonkey {match[1].decode()}"
    return f"unknown ({_printable(peer_id[:8])})"
