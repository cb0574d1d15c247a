"""The web client's files: which file a URL path names, refusing anything outside the web home.

`resolve` is plain path arithmetic on the URL (no file system access): percent-decoding, then
every segment checked, so `..`, `%2e%2e`, backslashes, NUL bytes and absolute paths never leave
the directory. Symlinks inside the web home are followed, as the one who installed it put
them there (Debian's Transmission web client may link to shared JavaScript).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

MAX_FILE_BYTES = 32 * 1024 * 1024

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".map": "application/json",
}


def resolve(root: Path, url_path: str) -> Path | None:
    """The file under `root` that `url_path` (relative to the web home, percent-encoded) names,
    index.html for a directory path; None when the path is not one we would ever serve."""
    try:
        text = unquote(url_path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or "\\" in text or text.startswith("/"):
        return None
    parts = [part for part in text.split("/") if part != ""]
    if any(part in (".", "..") or part.startswith(".") for part in parts):
        return None
    if text == "" or text.endswith("/"):
        parts.append("index.html")
    return root.joinpath(*PurePosixPath(*parts).parts) if parts else None


def content_type(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"
