"""Which paths an RPC client may name: download directories inside the allowed roots, and
rename-path arguments that stay inside the torrent.

The checks on the text of a path are pure (`inside_roots` is given paths already resolved by
the caller, which owns the file system); they raise RpcError with a one-line message.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import PurePosixPath

from torrentish.rpc.protocol import INVALID_PARAMS, PATH_NOT_ABSOLUTE, RpcError


def absolute_directory(text: str, what: str = "download-dir") -> PurePosixPath:
    """An absolute path, normalised (no `.`/`..` left); relative ones are refused as Transmission does."""
    if not text or not text.startswith("/"):
        raise RpcError(PATH_NOT_ABSOLUTE, f"{what} must be an absolute path, not {_show(text)}")
    return PurePosixPath(posixpath.normpath(text))


def inside_roots(resolved: PurePosixPath, roots: Sequence[PurePosixPath], what: str = "download-dir") -> None:
    """Refuse a (symlink-resolved) path outside every allowed root."""
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none"
        raise RpcError(INVALID_PARAMS, f"{what} {_show(str(resolved))} is outside the allowed directories ({allowed})")


def rename_target(file_paths: Sequence[str], path: str, name: str) -> tuple[str, str]:
    """Check a torrent-rename-path request against the torrent's file paths ("name/dir/file").

    `path` must be one of the torrent's files or a directory above some of them; `name` one
    new path component. Returns (path, name) normalised; anything that could leave the
    torrent's own directory (`..`, `/`, NUL, an absolute path) is refused."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise RpcError(INVALID_PARAMS, f"name must be one file or folder name, not {_show(name)}")
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
        raise RpcError(INVALID_PARAMS, f"path must be a file or folder of the torrent, not {_show(path)}")
    prefix = path + "/"
    if not any(f == path or f.startswith(prefix) for f in file_paths):
        raise RpcError(INVALID_PARAMS, f"the torrent has no file or folder {_show(path)}")
    return path, name


def _show(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")
