"""Hashing a Source for a v2 or hybrid torrent (BEP 52): per-file merkle trees, and for a hybrid
the v1 SHA-1 pieces over the same files with pad files between them, from the same read (every v1
piece of the aligned layout lies in one file). Used by create.py."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from torrentish.formats.metainfo_v2 import build_info_v2
from torrentish.storage.hashing import Progress
from torrentish.storage.hashing_v2 import file_piece_hashes, hybrid_piece_hashes, pieces_root

if TYPE_CHECKING:
    from torrentish.app.create import Source


def create_v2(
    source: Source,
    piece_length: int,
    hybrid: bool,
    private: bool,
    progress: Progress | None,
    workers: int | None,
    cancel: threading.Event | None,
) -> tuple[bytes, dict[bytes, bytes]]:
    """(info dict bytes, piece layers) for source."""
    specs = [(f.path, f.length) for f in source.files]
    sha1s = None
    if hybrid:
        padding = _padding([f.length for f in source.files], piece_length)
        hashes, sha1s = hybrid_piece_hashes(specs, piece_length, padding, workers=workers, progress=progress,
                                            cancel=cancel)
    else:
        hashes = file_piece_hashes(specs, piece_length, workers=workers, progress=progress, cancel=cancel)
    files: list[tuple[tuple[str, ...], int, bytes | None]] = []
    layers: dict[bytes, bytes] = {}
    for f, pieces in zip(source.files, hashes):
        root = pieces_root(pieces, piece_length, f.length) if f.length else None  # type: ignore[arg-type]
        files.append((f.components, f.length, root))
        if len(pieces) > 1:
            layers[root] = b"".join(pieces)  # type: ignore[arg-type, index]
    v1_pieces = None if sha1s is None else b"".join(d for per_file in sha1s for d in per_file)  # type: ignore[misc]
    info = build_info_v2(source.name, piece_length, files, source.multi_file, private, v1_pieces)
    return info, layers


def _padding(lengths: list[int], piece_length: int) -> list[int]:
    """Zero bytes after each file in a hybrid's v1 stream: up to the next piece boundary when a
    non-empty file follows (metainfo_v2.v2_layout puts the pad files there), else none."""
    out = [0] * len(lengths)
    later = False  # a non-empty file comes after this one
    for i in range(len(lengths) - 1, -1, -1):
        out[i] = -lengths[i] % piece_length if lengths[i] and later else 0
        later = later or lengths[i] > 0
    return out
