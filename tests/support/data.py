"""Test payloads and the .torrent files that describe them, made independently of torrentish.

Payloads are random bytes from a seeded generator (the same seed gives the same bytes), shaped to hit
the edges a client gets wrong: a last piece shorter than the others, a last block shorter than 16 KiB,
a zero-length file in the middle of a multi-file torrent, a file smaller than one piece.

The torrents are written here with hashlib and bencodepy (BEP 3, v1 only, no pad files) rather than
with torrentish, so a bug in torrentish's metainfo code cannot hide an interop bug or vice versa.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import bencodepy

KiB = 1024
MiB = 1024 * KiB
PIECE_LENGTH = 32 * KiB

# Sizes chosen so the total is not a multiple of the piece length nor of the 16 KiB block.
SINGLE_FILE_SIZE = 3 * MiB + 12_345
# (path under the torrent's directory, size); listed in the sorted order the torrent uses.
MULTI_FILE_LAYOUT: tuple[tuple[tuple[str, ...], int], ...] = (
    (("a.bin",), 1 * MiB + 777),
    (("b-empty.txt",), 0),                 # zero-length, between two non-empty files
    (("c-small.bin",), 1_000),             # smaller than a piece, straddles a piece boundary
    (("sub", "d.bin"), 2 * MiB + 4_321),   # nested directory; short last piece and block
)


@dataclass(frozen=True)
class Payload:
    """Content on disk that one torrent describes.

    ``root`` is the file itself (single-file) or the directory named after the torrent (multi-file);
    ``files`` lists (path relative to ``root`` as components, length) in torrent order, with
    ``(name,)`` relative to the parent for a single file.
    """

    root: Path
    files: tuple[tuple[tuple[str, ...], int], ...]
    multi_file: bool

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def parent(self) -> Path:
        """The directory to hand a client as its download/save directory."""
        return self.root.parent

    @property
    def total_length(self) -> int:
        return sum(length for _, length in self.files)

    def file_paths(self) -> list[Path]:
        """Absolute paths of the files in torrent order."""
        if not self.multi_file:
            return [self.root]
        return [self.root.joinpath(*path) for path, _ in self.files]


def random_bytes(size: int, seed: int) -> bytes:
    """``size`` pseudo-random bytes, always the same for the same seed."""
    return random.Random(seed).randbytes(size)


def make_single_file(directory: Path, name: str = "single.bin", size: int = SINGLE_FILE_SIZE,
                     seed: int = 1) -> Payload:
    """Write one random file ``directory/name`` (by default with a short last piece)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(random_bytes(size, seed))
    return Payload(root=path, files=(((name,), size),), multi_file=False)


def make_multi_file(directory: Path, name: str = "multi",
                    layout: tuple[tuple[tuple[str, ...], int], ...] = MULTI_FILE_LAYOUT,
                    seed: int = 2) -> Payload:
    """Write a directory ``directory/name`` of random files laid out as ``layout``."""
    root = directory / name
    for index, (path, size) in enumerate(layout):
        target = root.joinpath(*path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(random_bytes(size, seed * 1000 + index))
    return Payload(root=root, files=tuple(layout), multi_file=True)


def piece_hashes(payload: Payload, piece_length: int) -> bytes:
    """SHA-1 of each piece of the files' concatenation, concatenated (the ``pieces`` value)."""
    hashes = []
    current = hashlib.sha1()
    filled = 0
    for path in payload.file_paths():
        with open(path, "rb") as f:
            while chunk := f.read(piece_length - filled):
                current.update(chunk)
                filled += len(chunk)
                if filled == piece_length:
                    hashes.append(current.digest())
                    current, filled = hashlib.sha1(), 0
    if filled:
        hashes.append(current.digest())
    return b"".join(hashes)


def info_dict(payload: Payload, piece_length: int = PIECE_LENGTH) -> dict:
    """The BEP 3 info dictionary for ``payload``."""
    info = {b"name": payload.name.encode(), b"piece length": piece_length,
            b"pieces": piece_hashes(payload, piece_length)}
    if payload.multi_file:
        info[b"files"] = [{b"length": length, b"path": [part.encode() for part in path]}
                          for path, length in payload.files]
    else:
        info[b"length"] = payload.total_length
    return info


def make_torrent(payload: Payload, out: Path, piece_length: int = PIECE_LENGTH,
                 announce: str | None = None) -> bytes:
    """Write a .torrent for ``payload`` to ``out``; return its info hash (20 bytes)."""
    info = info_dict(payload, piece_length)
    meta: dict = {b"info": info, b"created by": b"torrentish test harness"}
    if announce is not None:
        meta[b"announce"] = announce.encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bencodepy.encode(meta))
    return hashlib.sha1(bencodepy.encode(info)).digest()


def info_hash_of(torrent: Path) -> bytes:
    """The info hash of a .torrent file (SHA-1 of its re-encoded info dictionary).

    Re-encoding is exact for torrents with sorted keys, which every torrent used in these tests has.
    """
    return hashlib.sha1(bencodepy.encode(bencodepy.decode(torrent.read_bytes())[b"info"])).digest()


def differences(payload: Payload, download_root: Path) -> list[str]:
    """How the download at ``download_root`` differs from ``payload`` (empty when byte-identical).

    ``download_root`` is where the client put the torrent's content: the file itself for a
    single-file torrent, the directory named after the torrent for a multi-file one. Every file,
    zero-length ones included, must exist with the same bytes.
    """
    problems = []
    for (path, length), source in zip(payload.files, payload.file_paths()):
        copy = download_root if not payload.multi_file else download_root.joinpath(*path)
        label = "/".join(path)
        if not copy.is_file():
            problems.append(f"{label}: missing ({copy})")
        elif copy.stat().st_size != length:
            problems.append(f"{label}: {copy.stat().st_size} bytes, expected {length}")
        elif not _same_bytes(source, copy):
            problems.append(f"{label}: same size, different bytes")
    return problems


def _same_bytes(a: Path, b: Path, chunk: int = 1 * MiB) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block_a, block_b = fa.read(chunk), fb.read(chunk)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def assert_identical(payload: Payload, download_root: Path, who: str = "download") -> None:
    """Fail with a readable list of differences unless the download is byte-identical."""
    problems = differences(payload, download_root)
    assert not problems, f"{who} differs from the source:\n  " + "\n  ".join(problems)


PAYLOAD_KINDS = ("single", "multi")


def make_payload(kind: str, directory: Path) -> Payload:
    """``"single"``: one file with a short last piece; ``"multi"``: the MULTI_FILE_LAYOUT tree."""
    if kind == "single":
        return make_single_file(directory)
    if kind == "multi":
        return make_multi_file(directory)
    raise ValueError(f"unknown payload kind {kind!r}")
