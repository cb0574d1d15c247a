"""Checking data on disk against a torrent: where it is, which pieces are good, which files are missing.

Imports nothing from the engine (no trio), so ``torrentish verify`` starts fast.

A v2 torrent's pieces are checked against its merkle trees (the piece layers); a hybrid's against
both its SHA-1 pieces and its trees, and a piece is good only when both agree (BEP 52 asks for both).
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
    piece_layers: dict[bytes, bytes] | None = None,
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
    geometry = info.geometry()
    good: set[int] = set(range(geometry.num_pieces))
    layers = info.piece_layers if piece_layers is None else piece_layers
    spans = _file_pieces(info) if info.kind == "hybrid" else None
    if spans is not None:  # both hashes of every piece from one read of the data
        good = _good_hybrid(info, paths, spans, layers, workers, progress, cancel)
    elif info.has_v1:
        good &= check_pieces(
            [(path, entry.length) for entry, path in zip(info.files, paths)],
            info.piece_length,
            info.pieces,
            workers=workers,
            progress=progress,
            cancel=cancel,
        )
    if info.has_v2 and spans is None:
        matching, unknown = _good_v2(info, paths, layers, workers, progress, cancel)
        # A hybrid whose piece layers we lack (metadata from a magnet link) still has its SHA-1s.
        good &= matching | unknown if info.has_v1 else matching
    good_bytes = sum(geometry.piece_size(index) for index in good)
    return VerifyResult(
        total_pieces=geometry.num_pieces,
        good=frozenset(good),
        bad=[index for index in range(geometry.num_pieces) if index not in good],
        missing_files=missing,
        percent=100.0 * good_bytes / geometry.total_length if geometry.total_length else 100.0,
    )


def _good_v2(
    info: Info, paths: list, layers: dict[bytes, bytes], workers, progress, cancel
) -> tuple[set[int], set[int]]:
    """The pieces whose data matches the merkle trees, and those of files whose piece layer is unknown."""
    from torrentish.formats.metainfo_v2 import expected_piece_hashes
    from torrentish.storage.hashing_v2 import file_piece_hashes

    entries = [(entry, path) for entry, path in zip(info.files, paths) if not entry.padding and entry.length]
    unknown: set[int] = set()
    readable = []
    for entry, path in entries:
        expected = expected_piece_hashes(entry.length, entry.pieces_root, info.piece_length, layers)
        first = entry.offset // info.piece_length
        if expected is None:
            unknown.update(range(first, first + -(-entry.length // info.piece_length)))
        elif path is not None and path.is_file():
            readable.append((first, path, entry.length, expected))
    found = file_piece_hashes([(path, length) for _, path, length, _ in readable], info.piece_length,
                              strict=False, workers=workers, progress=progress, cancel=cancel)
    good: set[int] = set()
    for (first, _, _, expected), hashes in zip(readable, found):
        good.update(first + i for i, (a, b) in enumerate(zip(hashes, expected)) if a is not None and a == b)
    return good, unknown


def _file_pieces(info: Info) -> list[tuple[int, int]] | None:
    """(file index, zero bytes after it) for each non-empty file of a hybrid, if those files' pieces
    are all the pieces there are (each v1 piece in one file); None for an odd layout."""
    spans, covered = [], 0
    for number, entry in enumerate(info.files):
        if entry.padding:
            if spans:
                spans[-1] = (spans[-1][0], spans[-1][1] + entry.length)
        elif entry.length:
            spans.append((number, 0))
            covered += -(-entry.length // info.piece_length)
    return spans if covered == info.num_pieces else None


def _good_hybrid(info: Info, paths: list, spans, layers, workers, progress, cancel) -> set[int]:
    from torrentish.formats.metainfo_v2 import expected_piece_hashes
    from torrentish.storage.hashing_v2 import hybrid_piece_hashes

    readable = [(number, padding) for number, padding in spans
                if paths[number] is not None and paths[number].is_file()]
    v2, sha1 = hybrid_piece_hashes([(paths[n], info.files[n].length) for n, _ in readable], info.piece_length,
                                   [padding for _, padding in readable], strict=False, workers=workers,
                                   progress=progress, cancel=cancel)
    good: set[int] = set()
    for (number, _), merkle_hashes, sha1_hashes in zip(readable, v2, sha1):
        entry = info.files[number]
        expected = expected_piece_hashes(entry.length, entry.pieces_root, info.piece_length, layers)
        first = entry.offset // info.piece_length
        for k, (tree_hash, digest) in enumerate(zip(merkle_hashes, sha1_hashes)):
            index = first + k
            if digest is None or digest != info.pieces[index * 20 : (index + 1) * 20]:
                continue
            if expected is None or tree_hash == expected[k]:  # no piece layer: SHA-1 decides
                good.add(index)
    return good
