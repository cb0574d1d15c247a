"""Hashing a Source for a v2 or hybrid torrent (BEP 52): per-file merkle trees, and for a hybrid
the v1 SHA-1 pieces over the same files with pad files between them. Used by create.py."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from torrentish.formats.metainfo_v2 import V2File, build_info_v2, v2_layout
from torrentish.storage.hashing import Progress, hash_pieces
from torrentish.storage.hashing_v2 import file_piece_hashes, pieces_root

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
    total = source.total_length * (2 if hybrid else 1)  # a hybrid reads the data twice

    def v2_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    def v1_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(source.total_length + done, total)

    hashes = file_piece_hashes([(f.path, f.length) for f in source.files], piece_length,
                               workers=workers, progress=v2_progress, cancel=cancel)
    files: list[tuple[tuple[str, ...], int, bytes | None]] = []
    layers: dict[bytes, bytes] = {}
    for f, pieces in zip(source.files, hashes):
        root = pieces_root(pieces, piece_length, f.length) if f.length else None  # type: ignore[arg-type]
        files.append((f.components, f.length, root))
        if len(pieces) > 1:
            layers[root] = b"".join(pieces)  # type: ignore[arg-type, index]
    v1_pieces = None
    if hybrid:
        paths = {f.components: f.path for f in source.files}
        layout = v2_layout([V2File((source.name, *c), n, r) for c, n, r in files], piece_length)
        specs = [(None if padding else paths[path[1:]], length) for path, length, padding in layout]
        if not source.multi_file:
            specs = [(source.files[0].path, source.files[0].length)]
        v1_pieces = hash_pieces(specs, piece_length, workers=workers, progress=v1_progress, cancel=cancel)
    info = build_info_v2(source.name, piece_length, files, source.multi_file, private, v1_pieces)
    return info, layers
