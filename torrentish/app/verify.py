"""Checking data on disk against a torrent: where it is, which pieces are good, which files are missing.

Imports nothing from the engine (no trio), so ``torrentish verify`` starts fast.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from torrentish.storage.content import file_paths
from torrentish.storage.hashing import Progress, check_pieces
from torrentish.formats.metainfo import Info


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
