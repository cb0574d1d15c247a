"""Reading fields of untrusted bencoded dictionaries (.torrent files): types, ranges, path components.

Shared by metainfo.py (v1) and metainfo_v2.py (BEP 52); every failure is a one-line MetainfoError
naming the field.
"""

from __future__ import annotations

import re
from typing import Any

from torrentish.errors import MetainfoError

MAX_TOTAL_LENGTH = 1 << 50  # 1 PiB: far beyond any real torrent, well within int64 arithmetic
MAX_FILES = 1_000_000
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux: a longer path could never be created anyway

_BAD_CHARACTER = re.compile(r"[\x00-\x1f\x7f/\\]")
_DRIVE = re.compile(r"[A-Za-z]:")

_TYPE_NAMES = {bytes: "a string", int: "an integer", list: "a list", dict: "a dictionary"}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def read_field(d: dict, key: bytes, kind: type, where: str, required: bool = True) -> Any:
    """d[key], checked to be of kind; None when absent and not required."""
    value = d.get(key)
    name = f"{where}{key.decode()!r}"
    if value is None:
        if required:
            raise MetainfoError(f"{name} is missing")
        return None
    if type(value) is not kind:
        raise MetainfoError(f"{name} must be {_TYPE_NAMES[kind]}, not {type_name(value)}")
    return value


def decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def utf8_override(d: dict, key: bytes, kind: type) -> Any:
    """The value of key + '.utf-8' if it is of kind and (all of it) valid UTF-8, else None."""
    value = d.get(key + b".utf-8")
    if type(value) is not kind:
        return None
    try:
        if kind is bytes:
            return value.decode("utf-8")
        if value and all(type(c) is bytes for c in value):
            return [c.decode("utf-8") for c in value]
    except UnicodeDecodeError:
        pass
    return None


def check_component(component: str, where: str) -> None:
    if not component:
        raise MetainfoError(f"{where} is empty")
    if component in (".", ".."):
        raise MetainfoError(f"{where} is {component!r}: a path component may not be '.' or '..'")
    bad = _BAD_CHARACTER.search(component)
    if bad:
        raise MetainfoError(f"{where} {component[:60]!r} contains the character {bad.group()!r}")
    if _DRIVE.match(component):
        raise MetainfoError(f"{where} {component[:60]!r} starts with a drive letter")


def read_int_in(d: dict, key: bytes, where: str, low: int, high: int) -> int:
    value = read_field(d, key, int, where)
    if not low <= value <= high:
        raise MetainfoError(f"{where}{key.decode()!r} is {value}, outside {low}..{high}")
    return value
