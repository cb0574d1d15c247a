""".torrent files: parse, validate and build (BEP 3, 12, 19, 27, 47, 52).

A .torrent file is hostile until proven otherwise: every field we read must have the type its BEP
gives it, every path must stay inside the download directory, and the pieces must cover exactly the
bytes the files add up to. Anything else is a MetainfoError naming the field and the reason.

Decisions the BEPs leave open:
- piece length: a power of two from 1 KiB to 256 MiB.
- A torrent whose files add up to 0 bytes is rejected (nothing to share; libtorrent agrees).
- Text is UTF-8 (``name.utf-8`` / ``path.utf-8`` win when they are valid UTF-8); invalid bytes become
  U+FFFD. The info hash is still exact: it is the SHA-1 of the info dictionary's bytes in the file.
- Path components may not be empty, ``.`` or ``..``, contain ``/``, ``\\``, NUL or another control
  character, or start with a drive letter (``C:``). Two files may not have the same path, nor may a
  file's path be another file's directory. BEP 47 pad files (``attr`` contains ``p``) are never
  written, so they are exempt from the last two rules (libtorrent names them all ``.pad/<size>``).
- Trackers and web seeds: an entry of the wrong type rejects the torrent; empty strings and empty
  tiers are dropped (many tools write ``url-list: ""``); duplicates are dropped.
- ``private`` is any integer; non-zero means private (as libtorrent reads it).
- v2 and hybrid torrents (BEP 52, ``meta version`` 2): see metainfo_v2.py for the file tree rules.
  A v2-only torrent's files are laid out with pad entries so every file starts on a piece boundary;
  its ``pieces`` is empty and its pieces are checked against merkle trees instead of SHA-1 hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from torrentish.formats import bencoding, metainfo_v2
from torrentish.formats.fields import (
    MAX_FILES,
    MAX_PATH_BYTES,
    MAX_TOTAL_LENGTH,
    check_component,
    read_field,
    read_int_in,
    decode_text,
    type_name,
    utf8_override,
)
from torrentish.errors import BencodeError, MetainfoError

if TYPE_CHECKING:
    from torrentish.formats.geometry import PieceGeometry

__all__ = ["FileEntry", "Info", "Metainfo", "parse_torrent", "load_torrent", "parse_info", "build_info",
           "build_torrent", "MIN_PIECE_LENGTH", "MAX_PIECE_LENGTH", "MAX_TOTAL_LENGTH", "MAX_FILES"]

MIN_PIECE_LENGTH = 1 << 10
MAX_PIECE_LENGTH = 1 << 28
HASH_LENGTH = 20


@dataclass(frozen=True)
class FileEntry:
    path: tuple[str, ...]  # relative to the download directory; starts with the torrent name
    length: int
    offset: int  # where the file starts in the torrent's byte stream
    padding: bool = False  # BEP 47 pad file: never written to disk
    pieces_root: bytes | None = field(default=None, repr=False)  # BEP 52 merkle root (v2, non-empty)


@dataclass(frozen=True)
class Info:
    name: str
    piece_length: int
    pieces: bytes = field(repr=False)  # concatenated 20-byte SHA-1 hashes
    files: tuple[FileEntry, ...] = field(repr=False)
    private: bool
    multi_file: bool
    raw: bytes = field(repr=False)  # the exact bencoded info dictionary
    # The torrent's 20-byte id in trackers, DHT, handshakes and file names: the SHA-1 of raw (v1,
    # hybrid), or for a v2-only torrent the SHA-256 of raw truncated to 20 bytes (BEP 52).
    info_hash: bytes
    info_hash_v2: bytes | None = None  # SHA-256 of raw for v2 and hybrid torrents
    # BEP 52 piece layers by pieces root: outside the info dict, so known only from a .torrent
    # (parse_torrent attaches them); empty for info from peers.
    piece_layers: dict[bytes, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_v1(self) -> bool:
        """SHA-1 piece hashes (BEP 3): v1 and hybrid torrents."""
        return bool(self.pieces)

    @property
    def has_v2(self) -> bool:
        return self.info_hash_v2 is not None

    @property
    def kind(self) -> str:
        """"v1", "v2" or "hybrid"."""
        return "hybrid" if self.has_v1 and self.has_v2 else "v2" if self.has_v2 else "v1"

    @property
    def swarm_hashes(self) -> tuple[bytes, ...]:
        """The 20-byte ids of the swarms to join: v1 hash and/or the v2 hash truncated (BEP 52)."""
        if self.info_hash_v2 is None or not self.has_v1:
            return (self.info_hash,)
        return (self.info_hash, self.info_hash_v2[:HASH_LENGTH])

    @cached_property
    def total_length(self) -> int:
        return sum(f.length for f in self.files)

    @property
    def num_pieces(self) -> int:
        return -(-self.total_length // self.piece_length)

    def piece_hash(self, index: int) -> bytes:
        if not 0 <= index < self.num_pieces:
            raise IndexError(f"piece {index} out of range 0..{self.num_pieces - 1}")
        return self.pieces[index * HASH_LENGTH : (index + 1) * HASH_LENGTH]

    def geometry(self) -> PieceGeometry:
        from torrentish.formats.geometry import PieceGeometry

        return PieceGeometry(self.piece_length, [f.length for f in self.files])


@dataclass(frozen=True)
class Metainfo:
    info: Info
    announce: str | None
    announce_list: tuple[tuple[str, ...], ...]
    url_list: tuple[str, ...]
    comment: str | None
    created_by: str | None
    creation_date: int | None

    @property
    def piece_layers(self) -> dict[bytes, bytes]:
        """BEP 52 piece layers by pieces root (checked against the roots)."""
        return self.info.piece_layers

    def trackers(self) -> tuple[tuple[str, ...], ...]:
        """Tracker tiers: announce-list when it has any, else the one announce URL."""
        if self.announce_list:
            return self.announce_list
        return ((self.announce,),) if self.announce else ()


# -- the info dictionary ---------------------------------------------------------------------


def _parse_files(info: dict, name: str) -> tuple[FileEntry, ...]:
    """The files of a multi-file torrent, each path checked and prefixed with the torrent name."""
    files = read_field(info, b"files", list, "info ")
    if not files:
        raise MetainfoError("info 'files' is empty")
    if len(files) > MAX_FILES:
        raise MetainfoError(f"info 'files' has {len(files)} entries, more than {MAX_FILES}")
    entries = []
    offset = 0
    for i, f in enumerate(files):
        where = f"info 'files'[{i}] "
        if type(f) is not dict:
            raise MetainfoError(f"{where.rstrip()} must be a dictionary, not {type_name(f)}")
        length = read_int_in(f, b"length", where, 0, MAX_TOTAL_LENGTH)
        raw_path = read_field(f, b"path", list, where)
        for j, c in enumerate(raw_path):
            if type(c) is not bytes:
                raise MetainfoError(f"{where}'path'[{j}] must be a string, not {type_name(c)}")
        path = utf8_override(f, b"path", list) or [decode_text(c) for c in raw_path]
        if not path:
            raise MetainfoError(f"{where}'path' is empty")
        for j, component in enumerate(path):
            check_component(component, f"{where}'path'[{j}]")
        attr = read_field(f, b"attr", bytes, where, required=False) or b""
        full = (name, *path)
        if len("/".join(full).encode("utf-8")) > MAX_PATH_BYTES:
            raise MetainfoError(f"{where}'path' is longer than {MAX_PATH_BYTES} bytes")
        entries.append(FileEntry(full, length, offset, padding=b"p" in attr))
        offset += length
        if offset > MAX_TOTAL_LENGTH:
            raise MetainfoError(f"the files add up to more than {MAX_TOTAL_LENGTH} bytes")
    _check_collisions(entries)
    return tuple(entries)


def _check_collisions(entries: list[FileEntry]) -> None:
    """No two files on the same path, and no file where another file needs a directory."""
    seen: set[tuple[str, ...]] = set()
    real = [e for e in entries if not e.padding]
    for e in real:
        if e.path in seen:
            raise MetainfoError(f"file {'/'.join(e.path)[:200]!r} appears twice")
        seen.add(e.path)
    for e in real:
        for n in range(2, len(e.path)):
            if e.path[:n] in seen:
                directory, file = "/".join(e.path[:n])[:200], "/".join(e.path)[:200]
                raise MetainfoError(f"file {directory!r} is also the directory of {file!r}")


def _info_from_dict(info: Any, raw: bytes) -> Info:
    if type(info) is not dict:
        raise MetainfoError(f"'info' must be a dictionary, not {type_name(info)}")
    is_v2 = metainfo_v2.check_meta_version(info)
    raw_name = read_field(info, b"name", bytes, "info ")
    name = utf8_override(info, b"name", bytes) or decode_text(raw_name)
    check_component(name, "info 'name'")
    piece_length = read_field(info, b"piece length", int, "info ")
    if not MIN_PIECE_LENGTH <= piece_length <= MAX_PIECE_LENGTH or piece_length & (piece_length - 1):
        raise MetainfoError(
            f"info 'piece length' is {piece_length}: it must be a power of two "
            f"from {MIN_PIECE_LENGTH} to {MAX_PIECE_LENGTH}"
        )
    if is_v2 and piece_length < metainfo_v2.BLOCK_SIZE:
        raise MetainfoError(f"info 'piece length' is {piece_length}: a v2 torrent needs at least 16384")
    v2_files = metainfo_v2.parse_file_tree(info, name) if is_v2 else None
    if v2_files is not None and b"pieces" not in info:
        return _v2_only_info(info, raw, name, piece_length, *v2_files)
    pieces = read_field(info, b"pieces", bytes, "info ")
    if len(pieces) % HASH_LENGTH:
        raise MetainfoError(f"info 'pieces' is {len(pieces)} bytes, not a multiple of {HASH_LENGTH}")
    has_length, has_files = b"length" in info, b"files" in info
    if has_length == has_files:
        both = "both" if has_length else "neither"
        raise MetainfoError(f"info must have exactly one of 'length' and 'files', not {both}")
    if has_length:
        length = read_int_in(info, b"length", "info ", 0, MAX_TOTAL_LENGTH)
        files: tuple[FileEntry, ...] = (FileEntry((name,), length, 0),)
    else:
        files = _parse_files(info, name)
    total = sum(f.length for f in files)
    if total == 0:
        raise MetainfoError("the torrent has no data: its length is 0")
    expected = -(-total // piece_length)
    if len(pieces) // HASH_LENGTH != expected:
        raise MetainfoError(
            f"info 'pieces' has {len(pieces) // HASH_LENGTH} hashes, but {total} bytes "
            f"in pieces of {piece_length} need {expected}"
        )
    private = read_field(info, b"private", int, "info ", required=False)
    info_hash_v2 = None
    if v2_files is not None:
        metainfo_v2.check_hybrid(files, v2_files[0], piece_length)
        roots = iter(f.pieces_root for f in v2_files[0])
        files = tuple(f if f.padding else replace(f, pieces_root=next(roots)) for f in files)
        info_hash_v2 = hashlib.sha256(raw).digest()
    return Info(
        name=name,
        piece_length=piece_length,
        pieces=pieces,
        files=files,
        private=bool(private),
        multi_file=has_files,
        raw=raw,
        info_hash=hashlib.sha1(raw).digest(),
        info_hash_v2=info_hash_v2,
    )


def _v2_only_info(info: dict, raw: bytes, name: str, piece_length: int, v2_files: list, multi: bool) -> Info:
    entries, offset = [], 0
    for path, length, padding in metainfo_v2.v2_layout(v2_files, piece_length):
        entries.append(FileEntry(path, length, offset, padding=padding))
        offset += length
    roots = iter(f.pieces_root for f in v2_files)
    files = tuple(f if f.padding else replace(f, pieces_root=next(roots)) for f in entries)
    if offset == 0:
        raise MetainfoError("the torrent has no data: its length is 0")
    if offset > MAX_TOTAL_LENGTH:
        raise MetainfoError(f"the files add up to more than {MAX_TOTAL_LENGTH} bytes")
    _check_collisions(list(files))
    private = read_field(info, b"private", int, "info ", required=False)
    return Info(
        name=name,
        piece_length=piece_length,
        pieces=b"",
        files=files,
        private=bool(private),
        multi_file=multi,
        raw=raw,
        info_hash=hashlib.sha256(raw).digest()[:HASH_LENGTH],
        info_hash_v2=hashlib.sha256(raw).digest(),
    )


def parse_info(raw: bytes, expected_hash: bytes | None = None) -> Info:
    """Parse a bencoded info dictionary (from a .torrent or from peers, BEP 9).

    With expected_hash, the hash of raw must match it before anything else is looked at: SHA-1 for
    a 20-byte hash, SHA-256 for a 32-byte one (v2), or SHA-256 truncated to 20 bytes when that is
    what a v2 swarm was joined by.
    """
    raw = bytes(raw)
    if expected_hash is not None and expected_hash not in _hashes_of(raw, len(expected_hash)):
        raise MetainfoError(f"info dictionary does not match the info hash {expected_hash.hex()}")
    try:
        info = bencoding.decode(raw)
    except BencodeError as e:
        raise MetainfoError(f"info dictionary: {e}") from None
    return _info_from_dict(info, raw)


def _hashes_of(raw: bytes, size: int) -> tuple[bytes, ...]:
    sha256 = hashlib.sha256(raw).digest()
    return (sha256,) if size == 32 else (hashlib.sha1(raw).digest(), sha256[:HASH_LENGTH])


# -- the whole torrent -----------------------------------------------------------------------


def _urls(value: Any, where: str) -> list[str]:
    """A list of URL strings, every entry checked to be a string; empty ones dropped."""
    if type(value) is not list:
        raise MetainfoError(f"{where} must be a list, not {type_name(value)}")
    for i, url in enumerate(value):
        if type(url) is not bytes:
            raise MetainfoError(f"{where}[{i}] must be a string, not {type_name(url)}")
    return [decode_text(url) for url in value if url]


def _tiers(top: dict) -> tuple[tuple[str, ...], ...]:
    """BEP 12 announce-list: tiers of URLs, without duplicates or empty tiers."""
    value = top.get(b"announce-list")
    if value is None:
        return ()
    if type(value) is not list:
        raise MetainfoError(f"'announce-list' must be a list, not {type_name(value)}")
    seen: set[str] = set()
    tiers = []
    for i, tier in enumerate(value):
        urls = [u for u in _urls(tier, f"'announce-list'[{i}]") if not (u in seen or seen.add(u))]
        if urls:
            tiers.append(tuple(urls))
    return tuple(tiers)


def _url_list(top: dict) -> tuple[str, ...]:
    """BEP 19 url-list: one string or a list of them."""
    value = top.get(b"url-list")
    if value is None:
        return ()
    urls = _urls([value] if type(value) is bytes else value, "'url-list'")
    return tuple(dict.fromkeys(urls))


def _optional_text(top: dict, key: bytes) -> str | None:
    value = read_field(top, key, bytes, "", required=False)
    return decode_text(value) if value else None


def parse_torrent(data: bytes) -> Metainfo:
    """Parse and validate a .torrent file's contents; raises MetainfoError."""
    try:
        top = bencoding.decode(data, bencoding.TORRENT_LIMITS)
        if type(top) is not dict:
            raise MetainfoError(f"a torrent must be a dictionary, not {type_name(top)}")
        if b"info" not in top:
            raise MetainfoError("'info' is missing")
        start, end = bencoding.value_span(data, b"info")
    except BencodeError as e:
        raise MetainfoError(f"not a torrent file: {e}") from None
    info = _info_from_dict(top[b"info"], bytes(data[start:end]))
    layers = {}
    if info.has_v2:
        layers = metainfo_v2.parse_piece_layers(top, v2_files(info), info.piece_length, required=not info.has_v1)
        info = replace(info, piece_layers=layers)
    return Metainfo(
        info=info,
        announce=_optional_text(top, b"announce"),
        announce_list=_tiers(top),
        url_list=_url_list(top),
        comment=_optional_text(top, b"comment"),
        created_by=_optional_text(top, b"created by"),
        creation_date=read_field(top, b"creation date", int, "", required=False),
    )


def v2_files(info: Info) -> list:
    """The v2 files of info (not padding), as metainfo_v2.V2File."""
    return [metainfo_v2.V2File(f.path, f.length, f.pieces_root) for f in info.files if not f.padding]


def load_torrent(path: Any) -> Metainfo:
    """Read and parse a .torrent file, refusing to read more than the size limit."""
    limit = bencoding.TORRENT_LIMITS.max_size
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise MetainfoError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if len(data) > limit:
        raise MetainfoError(f"{str(path)!r} is larger than {limit} bytes: not a torrent file")
    try:
        return parse_torrent(data)
    except MetainfoError as e:
        raise MetainfoError(f"{str(path)!r}: {e}") from None


# -- building --------------------------------------------------------------------------------


def build_info(
    name: str,
    piece_length: int,
    pieces: bytes,
    files: list[tuple[tuple[str, ...], int]] | None,
    length: int | None,
    private: bool = False,
) -> bytes:
    """A canonical bencoded info dictionary, checked by parse_info.

    Single-file: files=None and length given. Multi-file: length=None and files as
    (components under the torrent directory, length) - without the name, as in the 'path' key.
    """
    info: dict[str, Any] = {"name": name, "piece length": piece_length, "pieces": bytes(pieces)}
    if files is not None:
        info["files"] = [{"length": size, "path": list(path)} for path, size in files]
    if length is not None:
        info["length"] = length
    if private:
        info["private"] = 1
    raw = bencoding.encode(info)
    parse_info(raw)
    return raw


def build_torrent(
    info_raw: bytes,
    announce_list: Any = (),
    url_list: Any = (),
    comment: str | None = None,
    created_by: str | None = None,
    creation_date: int | None = None,
    piece_layers: dict[bytes, bytes] | None = None,
) -> bytes:
    """A canonical .torrent file around info_raw, which is kept byte for byte (its hash stays).

    announce_list is a sequence of tiers (each a sequence of URLs; a plain string is a tier of one).
    The first URL also becomes 'announce'; 'announce-list' is written when there is more than one.
    piece_layers (BEP 52) go outside the info dict; a v2-only torrent needs them.
    """
    parse_info(info_raw)
    tiers = [[t] if isinstance(t, str) else list(t) for t in announce_list]
    tiers = [t for t in tiers if t]
    before: dict[str, Any] = {}  # keys sorting before "info"
    after: dict[str, Any] = {}
    if tiers:
        before["announce"] = tiers[0][0]
        if len(tiers) > 1 or len(tiers[0]) > 1:
            before["announce-list"] = tiers
    if comment is not None:
        before["comment"] = comment
    if created_by is not None:
        before["created by"] = created_by
    if creation_date is not None:
        before["creation date"] = creation_date
    if piece_layers:
        after["piece layers"] = dict(piece_layers)
    if url_list:
        after["url-list"] = [url_list] if isinstance(url_list, str) else list(url_list)
    # Splice the info bytes in at their sorted place rather than re-encode them.
    inner_before, inner_after = bencoding.encode(before)[1:-1], bencoding.encode(after)[1:-1]
    data = b"d" + inner_before + b"4:info" + bytes(info_raw) + inner_after + b"e"
    parse_torrent(data)
    return data
