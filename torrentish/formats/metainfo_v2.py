"""BEP 52 metainfo: the v2 ``file tree``, ``piece layers`` and hybrid (v1 + v2) consistency.

metainfo.py parses the parts every torrent has and calls in here when the info dictionary says
``meta version`` 2. What this module decides:

- ``meta version`` other than 2 is refused first, with its own message (the BEP asks for that).
- ``piece length`` of a v2 torrent is at least 16 KiB (one merkle leaf).
- The file tree: every key a path component under the same rules as v1 paths (no ``.``/``..``,
  separators, control characters, drive letters); a file node (a ``""`` key) has no siblings, a
  non-negative ``length`` and, when not empty, a 32-byte ``pieces root``; a directory is not empty;
  the root is a directory. Files come in the tree's sorted key order.
- One file at the top of the tree is a single-file torrent named ``name`` (as libtorrent reads it);
  otherwise the tree lies inside the directory ``name``.
- In the v2 piece space every non-empty file starts on a piece boundary; we lay that out as BEP 47
  pad entries between files, so one PieceGeometry serves v1, v2 and hybrid torrents alike.
- A hybrid's v1 ``files``/``length`` must list the same files, same order and lengths, with pad files
  only where they align the next file to a piece boundary (a pad after the last file is allowed:
  libtorrent writes one).
- ``piece layers`` in a .torrent: one entry per file larger than a piece, of exactly that file's
  piece count, whose merkle root is the file's ``pieces root``. Entries for no file are ignored.
  A v2-only .torrent without them is refused (BEP 52: "not valid"; libtorrent is laxer and fetches
  them from peers); a hybrid without them is accepted, its SHA-1 pieces check every piece. Info
  fetched with a magnet link (parse_info) has no piece layers at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torrentish.errors import MetainfoError
from torrentish.formats import bencoding, merkle
from torrentish.formats.fields import (
    MAX_FILES,
    MAX_PATH_BYTES,
    MAX_TOTAL_LENGTH,
    check_component,
    read_field,
    read_int_in,
    decode_text,
    type_name,
)
from torrentish.formats.merkle import BLOCK_SIZE, HASH_SIZE

__all__ = ["V2File", "parse_file_tree", "v2_layout", "check_hybrid", "parse_piece_layers", "build_info_v2",
           "file_tree_dict", "META_VERSION", "pieces_of_file"]

META_VERSION = 2
PAD_DIRECTORY = ".pad"


@dataclass(frozen=True)
class V2File:
    path: tuple[str, ...]  # relative to the download directory; starts with the torrent name
    length: int
    pieces_root: bytes | None  # None for an empty file


def check_meta_version(info: dict) -> bool:
    """True for a v2 (or hybrid) info dict, False for v1; refuses versions we do not know."""
    version = info.get(b"meta version")
    if version is None:
        if b"file tree" in info:
            raise MetainfoError("info has a 'file tree' but no 'meta version'")
        return False
    if type(version) is not int or version != META_VERSION:
        raise MetainfoError(f"info 'meta version' is {version!r}: only version 2 is supported")
    return True


def parse_file_tree(info: dict, name: str) -> tuple[list[V2File], bool]:
    """The files of info's ``file tree`` in order, and whether the torrent is multi-file."""
    tree = read_field(info, b"file tree", dict, "info ")
    if not tree:
        raise MetainfoError("info 'file tree' is empty")
    if b"" in tree:
        raise MetainfoError("info 'file tree' root is a file: it must be a directory")
    single = len(tree) == 1 and type(next(iter(tree.values()))) is dict and b"" in next(iter(tree.values()))
    files: list[V2File] = []

    def walk(node: dict, path: tuple[str, ...], where: str) -> None:
        for key in sorted(node):
            child = node[key]
            here = f"{where}[{decode_text(key)[:60]!r}]"
            if type(child) is not dict:
                raise MetainfoError(f"{here} must be a dictionary, not {type_name(child)}")
            component = decode_text(key)
            check_component(component, here)
            full = (*path, component)
            if len("/".join(full).encode("utf-8")) > MAX_PATH_BYTES:
                raise MetainfoError(f"{here} makes a path longer than {MAX_PATH_BYTES} bytes")
            if b"" in child:
                files.append(_file_node(child, full, here))
                if len(files) > MAX_FILES:
                    raise MetainfoError(f"info 'file tree' has more than {MAX_FILES} files")
            elif not child:
                raise MetainfoError(f"{here} is an empty directory")
            else:
                walk(child, full, here)

    walk(tree, (name,), "info 'file tree'")
    if single:
        files = [V2File((name,), files[0].length, files[0].pieces_root)]
    return files, not single


def _file_node(node: dict, path: tuple[str, ...], where: str) -> V2File:
    if len(node) != 1:
        raise MetainfoError(f"{where} is a file and may not have other entries beside ''")
    props = node[b""]
    if type(props) is not dict:
        raise MetainfoError(f"{where}[''] must be a dictionary, not {type_name(props)}")
    length = read_int_in(props, b"length", f"{where}[''] ", 0, MAX_TOTAL_LENGTH)
    root = read_field(props, b"pieces root", bytes, f"{where}[''] ", required=length > 0)
    if length == 0:
        root = None
    elif len(root) != HASH_SIZE:
        raise MetainfoError(f"{where}[''] 'pieces root' is {len(root)} bytes, not {HASH_SIZE}")
    return V2File(path, length, root)


def v2_layout(files: list[V2File], piece_length: int) -> list[tuple[tuple[str, ...], int, bool]]:
    """(path, length, is padding) entries laying files out in v2 piece space (aligned by pad entries)."""
    name = files[0].path[0]
    layout: list[tuple[tuple[str, ...], int, bool]] = []
    offset = 0
    for i, f in enumerate(files):
        if offset % piece_length and f.length:
            gap = piece_length - offset % piece_length
            layout.append(((name, PAD_DIRECTORY, str(gap)), gap, True))
            offset += gap
        layout.append((f.path, f.length, False))
        offset += f.length
    return layout


def check_hybrid(v1_files: Any, v2_files: list[V2File], piece_length: int) -> None:
    """A hybrid's v1 file list must describe the same files, order and alignment as its file tree."""
    real = [f for f in v1_files if not f.padding]
    if [(f.path, f.length) for f in real] != [(f.path, f.length) for f in v2_files]:
        for i, (a, b) in enumerate(zip(real, v2_files)):
            if (a.path, a.length) != (b.path, b.length):
                raise MetainfoError(
                    f"hybrid torrent: v1 file {i} is {'/'.join(a.path)[:100]!r} ({a.length} bytes) but the "
                    f"file tree has {'/'.join(b.path)[:100]!r} ({b.length} bytes)"
                )
        raise MetainfoError(f"hybrid torrent: v1 lists {len(real)} files, the file tree {len(v2_files)}")
    for f in real:
        if f.length and f.offset % piece_length:
            raise MetainfoError(
                f"hybrid torrent: v1 file {'/'.join(f.path)[:100]!r} starts at {f.offset}, "
                f"not on a piece boundary (pad files missing)"
            )
    previous_padding = False
    for f in v1_files:
        if f.padding and (previous_padding or f.length == 0):
            raise MetainfoError("hybrid torrent: a pad file that aligns nothing")
        previous_padding = f.padding


def pieces_of_file(length: int, piece_length: int) -> int:
    return -(-length // piece_length)


def parse_piece_layers(top: dict, files: list[V2File], piece_length: int, required: bool = True) -> dict[bytes, bytes]:
    """The checked piece layers of every file larger than a piece, by pieces root.

    Not required (a hybrid: its SHA-1 pieces still check every piece), absent layers are no error.
    """
    layers = top.get(b"piece layers")
    needed = {f.pieces_root: f for f in files if f.length > piece_length}
    if layers is None:
        if needed and required:
            raise MetainfoError("'piece layers' is missing: a v2 torrent's files larger than a piece need them")
        return {}
    if type(layers) is not dict:
        raise MetainfoError(f"'piece layers' must be a dictionary, not {type_name(layers)}")
    checked: dict[bytes, bytes] = {}
    for root, f in needed.items():
        shown = "/".join(f.path)[:100]
        layer = layers.get(root)
        if layer is None:
            raise MetainfoError(f"'piece layers' has no entry for {shown!r}")
        if type(layer) is not bytes:
            raise MetainfoError(f"'piece layers' entry of {shown!r} must be a string, not {type_name(layer)}")
        count = pieces_of_file(f.length, piece_length)
        if len(layer) != count * HASH_SIZE:
            raise MetainfoError(
                f"'piece layers' entry of {shown!r} is {len(layer)} bytes, but its {count} pieces "
                f"need {count * HASH_SIZE}"
            )
        hashes = [layer[i : i + HASH_SIZE] for i in range(0, len(layer), HASH_SIZE)]
        if merkle.piece_layer_root(hashes, piece_length, f.length) != root:
            raise MetainfoError(f"'piece layers' entry of {shown!r} does not match its 'pieces root'")
        checked[root] = layer
    return checked


def file_tree_dict(files: list[tuple[tuple[str, ...], int, bytes | None]], multi_file: bool, name: str) -> dict:
    """The ``file tree`` value for (components under the torrent directory, length, root) files."""
    tree: dict[str, Any] = {}
    for components, length, root in files:
        path = components if multi_file else (name,)  # a single file sits at the top, named `name`
        node = tree
        for directory in path[:-1]:
            node = node.setdefault(directory, {})
        leaf: dict[str, Any] = {"length": length}
        if length:
            leaf["pieces root"] = root
        node[path[-1]] = {"": leaf}
    return tree



def build_info_v2(
    name: str,
    piece_length: int,
    files: list[tuple[tuple[str, ...], int, bytes | None]],
    multi_file: bool,
    private: bool = False,
    v1_pieces: bytes | None = None,
) -> bytes:
    """A canonical bencoded v2 info dict, hybrid when v1_pieces (SHA-1s over the padded stream) is given.

    Not parsed back here (that would be an import cycle): build_torrent checks it.

    files are (components under the torrent directory, length, pieces root), in file tree order
    (sorted component by component). A hybrid's v1 part gets a pad file before each non-empty file
    that does not start on a piece boundary, as in ``v2_layout``; checked by parse_info.
    """
    info: dict[str, Any] = {
        "file tree": file_tree_dict(files, multi_file, name),
        "meta version": META_VERSION,
        "name": name,
        "piece length": piece_length,
    }
    if v1_pieces is not None:
        info["pieces"] = bytes(v1_pieces)
        if multi_file:
            v2 = [V2File((name, *c), length, root) for c, length, root in files]
            info["files"] = [
                ({"attr": "p"} if padding else {}) | {"length": length, "path": list(path[1:])}
                for path, length, padding in v2_layout(v2, piece_length)
            ]
        else:
            info["length"] = files[0][1]
    if private:
        info["private"] = 1
    return bencoding.encode(info)  # checked by build_torrent


def expected_piece_hashes(
    length: int, root: bytes | None, piece_length: int, layers: dict[bytes, bytes]
) -> list[bytes] | None:
    """A file's piece hashes as its torrent gives them, or None when its piece layer is not known."""
    if not length or root is None:
        return []
    if length <= piece_length:
        return [root]
    layer = layers.get(root)
    if layer is None:
        return None
    return [layer[i : i + HASH_SIZE] for i in range(0, len(layer), HASH_SIZE)]
