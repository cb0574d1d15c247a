"""Checking data on disk against a torrent: where it is, which pieces are good, which files are missing.

Imports nothing from the engine (no trio), so ``torrentish verify`` starts fast; storage.files
re-exports ``resolve_content_path`` for the engine's callers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from torrentish.hashing import Progress, check_pieces
from torrentish.metainfo import Info


@dataclass(frozen=True)
class VerifyResult:
    total_pieces: int
    good: frozenset[int]
    bad: list[int]  # every piece that is not good, in order
    missing_files: list[str]  # torrent paths ("name/dir/file") with no regular file on disk
    percent: float  # share of the torrent's bytes in good pieces, 0.0-100.0

    @property
    def complete(self) -> bool:
        """Every piece good and every file present (zero-length ones included)."""
        return not self.bad and not self.missing_files


def resolve_content_path(info: Info, data: Path | None = None) -> Path:
    """Where a torrent's existing content is, given what the user passed as ``--data``.

    ``data/<name>`` if it exists; else ``data`` itself if it is the right kind of thing (a file for a
    single-file torrent, a directory for a multi-file one); else ``data/<name>``, which will be
    reported missing. ``data`` defaults to the current directory.
    """
    base = Path(data) if data is not None else Path.cwd()
    named = base / info.name
    if named.exists() or named.is_symlink():
        return named
    if (info.multi_file and base.is_dir()) or (not info.multi_file and base.is_file()):
        return base
    return named


def file_paths(info: Info, content_path: Path) -> list[Path | None]:
    """Where each file of ``info`` is under ``content_path`` (None for BEP 47 pad files)."""
    content_path = Path(content_path)
    if not info.multi_file:
        return [content_path]
    return [None if f.padding else content_path.joinpath(*f.path[1:]) for f in info.files]


def verify(
    info: Info,
    content_path: Path,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
) -> VerifyResult:
    """Hash the data at ``content_path`` (the torrent's top-level file or directory) against ``info``.

    Never raises for missing or damaged data: that is what the result reports.
    """
    paths = file_paths(info, content_path)
    missing = [
        "/".join(entry.path)
        for entry, path in zip(info.files, paths)
        if path is not None and not path.is_file()
    ]
    good = check_pieces(
        [(path, entry.length) for entry, path in zip(info.files, paths)],
        info.piece_length,
        info.pieces,
        workers=workers,
        progress=progress,
        cancel=cancel,
    )
    geometry = info.geometry()
    good_bytes = sum(geometry.piece_size(index) for index in good)
    return VerifyResult(
        total_pieces=geometry.num_pieces,
        good=frozenset(good),
        bad=[index for index in range(geometry.num_pieces) if index not in good],
        missing_files=missing,
        percent=100.0 * good_bytes / geometry.total_length if geometry.total_length else 100.0,
    )
