"""Bencoding for untrusted input: a strict, limited scanner in front of bencode.py.

bencode.py (``bencodepy``) does the decoding and encoding, but it is lax where a client must be
strict: it parses numbers with ``int()`` (which accepts ``+5``, `` 5`` and ``1_0``), recurses once per
nesting level and keeps the last of two duplicate keys. So every input first goes through
``_scan``, an iterative scanner that enforces the grammar of BEP 3 and the ``Limits`` and reports
what is wrong and where; only bytes it accepted reach bencode.py.

Unsorted dictionary keys are accepted: the info hash is the SHA-1 of the exact bytes in the file,
and ``value_span`` finds those bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import bencodepy

from torrentish.errors import BencodeError

__all__ = [
    "Limits",
    "TORRENT_LIMITS",
    "MESSAGE_LIMITS",
    "decode",
    "decode_prefix",
    "encode",
    "value_span",
]

# bencode.py recurses once per nesting level and Python's int() refuses more than 4300 digits,
# so Limits beyond these would let bencode.py fail in ways the scanner did not foresee.
_MAX_SUPPORTED_DEPTH = 500
_MAX_SUPPORTED_DIGITS = 4000
# A string length prefix longer than this cannot be within any input we accept.
_MAX_LENGTH_DIGITS = 19


@dataclass(frozen=True)
class Limits:
    """Bounds on one bencoded input; exceeding any of them is a BencodeError."""

    max_size: int  # bytes of input (decode_prefix: bytes up to the end of the value)
    max_depth: int  # nesting of lists/dicts; a top-level dict is depth 1
    max_items: int  # total number of values, dictionary keys included
    max_int_digits: int  # digits in one integer, sign not counted

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.max_items < 1 or self.max_int_digits < 1:
            raise ValueError(f"limits must be positive: {self}")
        if not 1 <= self.max_depth <= _MAX_SUPPORTED_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {_MAX_SUPPORTED_DEPTH}")
        if self.max_int_digits > _MAX_SUPPORTED_DIGITS:
            raise ValueError(f"max_int_digits must be at most {_MAX_SUPPORTED_DIGITS}")


# .torrent files: the largest real ones (hundreds of thousands of files) are a few MiB.
TORRENT_LIMITS = Limits(max_size=32 * 1024 * 1024, max_depth=32, max_items=4_000_000, max_int_digits=20)
# Peer-wire extension messages, BEP 9 metadata pieces (16 KiB), tracker responses, DHT packets.
# 1 MiB holds a tracker response of ~10k non-compact peers; nothing legitimate nests deeper than 4.
MESSAGE_LIMITS = Limits(max_size=1024 * 1024, max_depth=16, max_items=100_000, max_int_digits=20)

# The accepted integer and string-length forms. Anything these refuse is diagnosed by _bad_int /
# _bad_length, which are slow but only run on the way to an error.
_INT = re.compile(rb"i(?:0|-?[1-9][0-9]*)e")
_LENGTH = re.compile(rb"(?:0|[1-9][0-9]*):")
_INT_PARTS = re.compile(rb"i(-?)([0-9]*)")
_DIGITS = re.compile(rb"[0-9]*")

_D, _L, _E, _I = ord("d"), ord("l"), ord("e"), ord("i")
_DIGIT_BYTES = frozenset(b"0123456789")


def _fail(what: str, offset: int) -> BencodeError:
    return BencodeError(f"invalid bencoding: {what} at offset {offset}")


def _past(data_len: int, limit_end: int, what: str, offset: int) -> BencodeError:
    """The error for a token that runs beyond limit_end: truncation, or the size limit."""
    if limit_end < data_len:
        return _fail(f"{what} goes beyond the size limit of {limit_end} bytes", offset)
    return _fail(f"{what} runs past the end of the data ({data_len} bytes)", offset)


def _bad_int(data: bytes, pos: int, limit_end: int, max_digits: int) -> BencodeError:
    """Explain why the integer at pos did not match _INT (or has too many digits)."""
    m = _INT_PARTS.match(data, pos)
    sign, digits = m.group(1), m.group(2)
    after = m.end()
    if len(digits) > max_digits:
        return _fail(f"integer with more than {max_digits} digits", pos)
    if after >= limit_end:
        return _past(len(data), limit_end, "integer", pos)
    if data[after] != _E:
        return _fail(f"unexpected byte {bytes([data[after]])!r} in integer", after)
    if not digits:
        return _fail("empty integer", pos)
    if sign and digits == b"0":
        return _fail("negative zero", pos)
    return _fail("integer with a leading zero", pos)


def _bad_length(data: bytes, pos: int, limit_end: int) -> BencodeError:
    """Explain why the string length at pos did not match _LENGTH."""
    digits_end = _DIGITS.match(data, pos).end()
    if digits_end - pos > _MAX_LENGTH_DIGITS:
        return _fail(f"string length with more than {_MAX_LENGTH_DIGITS} digits", pos)
    if digits_end >= limit_end:
        return _past(len(data), limit_end, "string length", pos)
    if data[digits_end] != ord(":"):
        return _fail(f"expected ':' after string length, found {bytes([data[digits_end]])!r}", digits_end)
    return _fail("string length with a leading zero", pos)



def _string_span(data: bytes, pos: int, limit_end: int, data_len: int, what: str) -> tuple[int, int]:
    """Where the string whose length prefix starts at `pos` begins and ends (checked)."""
    m = _LENGTH.match(data, pos)
    if m is None:
        raise _bad_length(data, pos, limit_end)
    start = m.end()
    if start - pos - 1 > _MAX_LENGTH_DIGITS:
        raise _bad_length(data, pos, limit_end)
    end = start + int(data[pos : start - 1])
    if end > limit_end:
        raise _past(data_len, limit_end, what, pos)
    return start, end

def _scan(data: bytes, pos: int, limits: Limits, spans: dict[bytes, tuple[int, int]] | None = None) -> int:
    """Check that one strict bencoded value starts at pos; return the offset just past it.

    Iterative: the nesting lives in ``stack`` (None for a list, the set of keys seen so far for a
    dict), never in Python's call stack, so hostile nesting costs a list entry, not a frame.
    If spans is given and the value is a dictionary, it receives key -> (start, end) of each value.
    """
    data_len = len(data)
    limit_end = min(data_len, pos + limits.max_size)
    max_depth, max_items, max_digits = limits.max_depth, limits.max_items, limits.max_int_digits
    int_match = _INT.match
    stack: list[set[bytes] | None] = []
    keys: set[bytes] | None = None  # stack[-1] when the innermost container is a dict
    want_key = False  # inside a dict, the next token is a key (or the closing 'e')
    items = 0
    top_key, top_start = b"", 0
    while True:
        if pos >= limit_end:
            what = "dictionary" if keys is not None else "list" if stack else "value"
            raise _past(data_len, limit_end, f"unterminated {what}", pos)
        c = data[pos]
        if want_key:
            if c == _E:
                stack.pop()
                pos += 1
            elif c in _DIGIT_BYTES:
                start, end = _string_span(data, pos, limit_end, data_len, "dictionary key")
                key = data[start:end]
                if key in keys:
                    raise _fail(f"duplicate dictionary key {key[:40]!r}", pos)
                keys.add(key)
                if spans is not None and len(stack) == 1:
                    top_key, top_start = key, end
                items += 1
                if items > max_items:
                    raise _fail(f"more than {max_items} values", pos)
                pos = end
                want_key = False
                continue  # the key's value follows
            else:
                raise _fail(f"dictionary key is not a string (found {bytes([c])!r})", pos)
        else:
            if c != _E:
                items += 1
                if items > max_items:
                    raise _fail(f"more than {max_items} values", pos)
            if c in _DIGIT_BYTES:
                pos = _string_span(data, pos, limit_end, data_len, "string")[1]
            elif c == _I:
                m = int_match(data, pos)
                if m is None:
                    raise _bad_int(data, pos, limit_end, max_digits)
                end = m.end()
                if end > limit_end:
                    raise _past(data_len, limit_end, "integer", pos)
                if end - pos - 2 - (data[pos + 1] == 0x2D) > max_digits:
                    raise _bad_int(data, pos, limit_end, max_digits)
                pos = end
            elif c == _L or c == _D:
                if len(stack) >= max_depth:
                    raise _fail(f"nesting deeper than {max_depth}", pos)
                keys = set() if c == _D else None
                stack.append(keys)
                want_key = keys is not None
                pos += 1
                continue  # the container's first element (or 'e') follows
            elif c == _E and stack and keys is None:
                stack.pop()
                pos += 1
            elif c == _E and stack:
                raise _fail("dictionary key without a value", pos)
            else:
                raise _fail(f"unexpected byte {bytes([c])!r}", pos)
        # A value (or a container) just ended.
        if not stack:
            return pos
        keys = stack[-1]
        want_key = keys is not None
        if spans is not None and len(stack) == 1:
            spans[top_key] = (top_start, pos)


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"bencoded data must be bytes, not {type(data).__name__}")


_DECODER = bencodepy.Bencode(encoding=None, max_depth=_MAX_SUPPORTED_DEPTH)


def _bencodepy_decode(data: bytes) -> Any:
    try:
        return _DECODER.decode(data)
    except bencodepy.BencodeDecodeError as e:  # the scanner accepted it: a bug, but never a crash
        raise BencodeError(f"invalid bencoding: bencode.py rejected it ({e})") from e


def decode(data: bytes, limits: Limits = TORRENT_LIMITS) -> Any:
    """Decode exactly one value that makes up the whole of data.

    Strings and dictionary keys are bytes, integers int, lists list, dictionaries dict
    (in the order of the input). Raises BencodeError.
    """
    data = _as_bytes(data)
    if len(data) > limits.max_size:
        raise BencodeError(f"invalid bencoding: {len(data)} bytes is more than the limit of {limits.max_size}")
    if not data:
        raise BencodeError("invalid bencoding: empty input")
    end = _scan(data, 0, limits)
    if end != len(data):
        raise _fail(f"{len(data) - end} bytes of trailing data", end)
    return _bencodepy_decode(data)


def decode_prefix(data: bytes, limits: Limits = MESSAGE_LIMITS) -> tuple[Any, int]:
    """Decode the one value at the start of data; return it and the offset where it ends.

    What follows the value is left alone (BEP 9: a dictionary followed by raw metadata).
    The size limit applies to the value, not to what follows it.
    """
    data = _as_bytes(data)
    if not data:
        raise BencodeError("invalid bencoding: empty input")
    end = _scan(data, 0, limits)
    return _bencodepy_decode(data[:end]), end


def value_span(data: bytes, key: bytes) -> tuple[int, int]:
    """The (start, end) offsets of the value of key in the top-level dictionary of data.

    data must be one valid value under TORRENT_LIMITS (it is checked); ``data[start:end]`` is the
    exact encoding in the input, which is what the info hash is computed from.
    """
    data = _as_bytes(data)
    if not data:
        raise BencodeError("invalid bencoding: empty input")
    spans: dict[bytes, tuple[int, int]] = {}
    end = _scan(data, 0, TORRENT_LIMITS, spans)
    if end != len(data):
        raise _fail(f"{len(data) - end} bytes of trailing data", end)
    if data[0] != _D:
        raise BencodeError("top-level value is not a dictionary")
    try:
        return spans[key]
    except KeyError:
        raise BencodeError(f"key {key!r} not found in the top-level dictionary") from None


def _normalize(value: Any, depth: int = 0) -> Any:
    """value in the exact types bencode.py dispatches on; rejects what cannot be bencoded."""
    if depth > _MAX_SUPPORTED_DEPTH:
        raise ValueError("value nests too deeply to encode")
    if isinstance(value, bool):
        raise TypeError("cannot bencode a bool: use 0 or 1")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_normalize(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out: dict[bytes, Any] = {}
        for k, v in value.items():
            if isinstance(k, str):
                k = k.encode("utf-8")
            elif isinstance(k, (bytes, bytearray)):
                k = bytes(k)
            else:
                raise TypeError(f"dictionary keys must be str or bytes, not {type(k).__name__}")
            if k in out:
                raise ValueError(f"dictionary key {k!r} appears twice (as str and as bytes)")
            out[k] = _normalize(v, depth + 1)
        return out
    raise TypeError(f"cannot bencode a value of type {type(value).__name__}")


def encode(value: Any) -> bytes:
    """Bencode value canonically: dictionary keys sorted as raw bytes.

    Accepts bytes, str (as UTF-8), int (not bool), list, tuple and dict with str or bytes keys.
    A value of another type is a programming error: TypeError (or ValueError for clashing keys).
    """
    return bencodepy.encode(_normalize(value))
