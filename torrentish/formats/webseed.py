"""BEP 19 web seeds, the pure part: which URL and byte range hold a stretch of a torrent, and
whether an HTTP reply to a range request is the one we asked for.

    for segment in plan_ranges(info, base_url, offset, length):
        ...  # segment.url, segment.start, segment.length (or segment.padding: zeros, not fetched)
    problem = check_range_reply(status, headers, segment.start, segment.length, segment.file_length)

A web seed URL names the file of a single-file torrent (or, ending in "/", the directory that
holds it) and the root above the torrent's directory of a multi-file torrent: a file's URL is the
root, the torrent's name and the file's path, each component percent-encoded. A piece may span
files, so one stretch of the torrent is several range requests. BEP 47 pad files are on no
server: their bytes are zeros, made here rather than fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from torrentish.formats.geometry import PieceGeometry
from torrentish.formats.metainfo import Info

__all__ = ["Segment", "file_url", "plan_ranges", "check_range_reply", "parse_content_range"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,20})-(\d{1,20})/(\d{1,20}|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    url: str  # "" for padding
    start: int  # where the range starts in its file
    length: int
    file_length: int
    padding: bool = False

    def range_header(self) -> str:
        return f"bytes={self.start}-{self.start + self.length - 1}"


def file_url(info: Info, base_url: str, file_index: int) -> str:
    """The URL of file `file_index` on the web seed at `base_url` (BEP 19)."""
    entry = info.files[file_index]
    if not info.multi_file:
        return base_url + quote(info.name) if base_url.endswith("/") else base_url
    root = base_url if base_url.endswith("/") else base_url + "/"
    return root + "/".join(quote(component) for component in entry.path)


def plan_ranges(info: Info, base_url: str, offset: int, length: int,
                geometry: PieceGeometry | None = None) -> Iterator[Segment]:
    """The range requests (and pad-file zeros) covering torrent bytes [offset, offset+length);
    `geometry` is info's, if the caller has it at hand."""
    for index, start, span in (geometry or info.geometry()).file_spans(offset, length):
        entry = info.files[index]
        if entry.padding:
            yield Segment("", start, span, entry.length, padding=True)
        else:
            yield Segment(file_url(info, base_url, index), start, span, entry.length)


def parse_content_range(value: str) -> tuple[int, int, int | None] | None:
    """`bytes first-last/total` as (first, last, total or None for "*"); None if malformed."""
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def check_range_reply(status: int, headers: Mapping[str, str], start: int, length: int,
                      file_length: int) -> str | None:
    """Why a reply to `Range: bytes=start-(start+length-1)` is not that range; None if it is.

    `headers` has lower-case names. A 200 is accepted only when the range asked was the whole
    file (a server that ignores Range otherwise sends far more than asked: we do not read it).
    """
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"reply is {encoding}-encoded though we asked for none"
    declared = headers.get("content-length")
    if declared is not None and not (declared.strip().isascii() and declared.strip().isdigit()):
        return "malformed Content-Length"
    if status == 200:
        if start != 0 or length != file_length:
            return "server ignores Range (200 instead of 206)"
        if declared is not None and int(declared) != length:
            return f"file is {declared} bytes, the torrent says {file_length}"
        return None
    if status == 416:
        return "range not satisfiable: the file on the server is shorter than the torrent's"
    if status != 206:
        return f"HTTP status {status}"
    content_range = headers.get("content-range")
    if content_range is None:
        return "206 without Content-Range"
    parsed = parse_content_range(content_range)
    if parsed is None:
        return f"malformed Content-Range {content_range[:60]!r}"
    first, last, total = parsed
    if (first, last) != (start, start + length - 1):
        return f"got range {first}-{last} for {start}-{start + length - 1}"
    if total is not None and total != file_length:
        return f"file is {total} bytes, the torrent says {file_length}"
    if declared is not None and int(declared) != length:
        return f"Content-Length {declared} for a range of {length}"
    return None
