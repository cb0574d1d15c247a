"""Making a .torrent from a file or a directory.

A directory becomes a multi-file torrent of every regular file below it, sorted by path (component
by component, so ``a/b`` sorts before ``a b/c`` and the order never depends on the filesystem).
Symbolic links and special files are skipped and reported: following links could pull in data from
outside the directory, or loop. The torrent is named after the path (its last component).

Piece length, when not given, is chosen the way mainstream tools do: the smallest power of two from
16 KiB to 16 MiB that keeps the torrent to at most ``TARGET_PIECES`` pieces, so most torrents have
1,000-2,000 pieces: a small .torrent file, yet pieces small enough to spread quickly.

Three kinds (``version``): "v1" (BEP 3, SHA-1 pieces), "v2" (BEP 52, a SHA-256 merkle tree per file)
and "hybrid" (both, over the same piece-aligned layout: the v1 part gets BEP 47 pad files).
Hybrid is the default of ``torrentish create`` (DEFAULT_VERSION), as in libtorrent and qBittorrent:
every client can join (v1-only ones through the v1 swarm) while v2 clients get per-file trees,
16 KiB-exact verification and identical files sharing a pieces root. It costs one extra hashing pass (SHA-1 and SHA-256) and some pad-file entries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torrentish import __version__
from torrentish.errors import StorageError
from torrentish.storage.hashing import Progress, hash_pieces
from torrentish.formats.metainfo import MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, build_info, build_torrent
from torrentish.formats.merkle import BLOCK_SIZE

AUTO_MIN_PIECE_LENGTH = 16 * 1024
AUTO_MAX_PIECE_LENGTH = 16 * 1024 * 1024
TARGET_PIECES = 2000
DEFAULT_CREATED_BY = f"torrentish/{__version__}"
VERSIONS = ("v1", "v2", "hybrid")
DEFAULT_VERSION = "hybrid"


@dataclass(frozen=True)
class SourceFile:
    """One file going into a torrent."""

    path: Path  # where it is now
    components: tuple[str, ...]  # its path inside the torrent directory (empty for a single file)
    length: int
    mtime_ns: int


@dataclass(frozen=True)
class Source:
    """What ``path`` holds: the files to share, in torrent order, and what was left out."""

    name: str
    files: tuple[SourceFile, ...]
    multi_file: bool
    skipped: tuple[tuple[Path, str], ...]  # (path, why)

    @property
    def total_length(self) -> int:
        return sum(f.length for f in self.files)


def auto_piece_length(total_length: int) -> int:
    """The smallest power of two in 16 KiB..16 MiB giving at most TARGET_PIECES pieces."""
    piece_length = AUTO_MIN_PIECE_LENGTH
    while piece_length < AUTO_MAX_PIECE_LENGTH and total_length > piece_length * TARGET_PIECES:
        piece_length *= 2
    return piece_length


def check_piece_length(piece_length: int, version: str = "v1") -> int:
    """``piece_length`` if a torrent may use it (a power of two within metainfo's limits)."""
    low = MIN_PIECE_LENGTH if version == "v1" else BLOCK_SIZE  # a v2 piece holds whole merkle leaves
    if not low <= piece_length <= MAX_PIECE_LENGTH or piece_length & (piece_length - 1):
        raise ValueError(
            f"piece length must be a power of two from {low // 1024} KiB "
            f"to {MAX_PIECE_LENGTH // (1024 * 1024)} MiB{'' if version == 'v1' else ' for ' + version}, "
            f"not {piece_length}"
        )
    return piece_length


def scan_source(path: Path | str) -> Source:
    """The files a torrent of ``path`` would hold; StorageError if there is nothing to share."""
    root = Path(os.path.abspath(path))
    try:
        st = root.stat()
    except OSError as error:
        raise StorageError(f"{path}: {error.strerror or error}") from None
    name = _text(root.name, root)
    if root.is_file():
        files = (SourceFile(root, (), st.st_size, st.st_mtime_ns),)
        skipped: list[tuple[Path, str]] = []
    elif root.is_dir():
        found: list[SourceFile] = []
        skipped = []
        _walk(root, (), found, skipped)
        files = tuple(sorted(found, key=lambda f: f.components))
        if not files:
            raise StorageError(f"{path}: the directory holds no regular files")
    else:
        raise StorageError(f"{path}: neither a regular file nor a directory")
    source = Source(name, files, root.is_dir(), tuple(skipped))
    if source.total_length == 0:
        raise StorageError(f"{path}: nothing to share, every file is empty")
    return source


def _walk(directory: Path, prefix: tuple[str, ...], found: list, skipped: list) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError as error:
        raise StorageError(f"{directory}: {error.strerror or error}") from None
    for entry in entries:
        path = Path(entry.path)
        components = (*prefix, _text(entry.name, path))
        if entry.is_symlink():
            skipped.append((path, "symbolic link"))
        elif entry.is_dir(follow_symlinks=False):
            _walk(path, components, found, skipped)
        elif entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            found.append(SourceFile(path, components, st.st_size, st.st_mtime_ns))
        else:
            skipped.append((path, "not a regular file"))


def _text(name: str, path: Path) -> str:
    """A file name as the torrent will store it: UTF-8, so undecodable bytes are refused."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise StorageError(f"{shown}: the file name is not valid UTF-8") from None
    return name


def create_torrent(
    path: Path | str,
    *,
    piece_length: int | None = None,
    trackers: Sequence[str] = (),
    web_seeds: Sequence[str] = (),
    private: bool = False,
    comment: str | None = None,
    created_by: str | None = DEFAULT_CREATED_BY,
    creation_date: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    on_skip: Callable[[Path, str], None] | None = None,
    version: str = "v1",
) -> bytes:
    """The bytes of a .torrent describing ``path`` (a file or a directory).

    ``piece_length`` None picks one (``auto_piece_length``); each tracker is a tier of its own;
    ``progress(done, total)`` is called from hashing threads; ``on_skip(path, why)`` hears about
    every symbolic link or special file left out. Raises StorageError when the path has nothing to
    share or a file changes while it is hashed; ValueError for a piece length no torrent may have.
    ``version`` is "v1", "v2" or "hybrid" (see the module docstring); callers that seed what they
    create (share, demo) keep v1 until the engine speaks v2 on the wire.
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    source = scan_source(path)
    if on_skip is not None:
        for skipped_path, why in source.skipped:
            on_skip(skipped_path, why)
    if piece_length is None:
        piece_length = auto_piece_length(source.total_length)
    check_piece_length(piece_length, version)
    top = dict(trackers=trackers, web_seeds=web_seeds, comment=comment, created_by=created_by,
               creation_date=creation_date)
    if version != "v1":
        from torrentish.app.create_v2 import create_v2

        info, layers = create_v2(source, piece_length, version == "hybrid", private, progress, workers, cancel)
        _check_unchanged(source)
        return _torrent(info, layers, **top)
    pieces = hash_pieces(
        [(f.path, f.length) for f in source.files],
        piece_length,
        workers=workers,
        progress=progress,
        cancel=cancel,
    )
    _check_unchanged(source)
    if source.multi_file:
        info = build_info(
            source.name, piece_length, pieces, [(f.components, f.length) for f in source.files], None, private
        )
    else:
        info = build_info(source.name, piece_length, pieces, None, source.total_length, private)
    return _torrent(info, None, **top)


def _torrent(info: bytes, layers: dict[bytes, bytes] | None, *, trackers, web_seeds, comment, created_by,
             creation_date) -> bytes:
    return build_torrent(
        info,
        announce_list=list(trackers),
        url_list=list(web_seeds),
        comment=comment,
        created_by=created_by,
        creation_date=creation_date,
        piece_layers=layers,
    )


def _check_unchanged(source: Source) -> None:
    """Hashes of a file that changed while we read it describe nothing: refuse to use them."""
    for f in source.files:
        try:
            st = f.path.stat()
        except OSError as error:
            raise StorageError(f"{f.path}: {error.strerror or error} (while hashing)") from None
        if st.st_size != f.length or st.st_mtime_ns != f.mtime_ns:
            raise StorageError(f"{f.path} changed while it was being hashed; try again")
