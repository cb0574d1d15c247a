"""The server side of HTTP range requests (RFC 9110 section 14), pure: which bytes a `Range`
header asks of a file of a known size.

    parse_range("bytes=100-199", 1000)   # (100, 200): serve [100, 200) as 206
    parse_range("bytes=5000-", 1000)     # UNSATISFIABLE: answer 416
    parse_range("items=1-2", 1000)       # None: ignore the header, serve the whole file (200)

Only one range is honoured: a header asking several (or malformed) is ignored, which RFC 9110
allows; a web seed or a download manager asks one at a time.
"""

from __future__ import annotations

import re

__all__ = ["parse_range", "UNSATISFIABLE", "content_range"]

UNSATISFIABLE = "unsatisfiable"
_ONE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d{0,20})\s*-\s*(\d{0,20})\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """[start, end) asked by `header` of a `size`-byte file, UNSATISFIABLE, or None (ignore)."""
    if header is None:
        return None
    match = _ONE_RANGE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        count = int(last)
        if count == 0:
            return UNSATISFIABLE
        return max(0, size - count), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        return None  # malformed: ignored, as RFC 9110 says
    if start >= size:
        return UNSATISFIABLE
    return start, end


def content_range(start: int, end: int, size: int) -> str:
    """The Content-Range value of a 206 for [start, end) of `size` bytes."""
    return f"bytes {start}-{end - 1}/{size}"
