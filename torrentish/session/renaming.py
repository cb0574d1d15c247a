"""Renaming a torrent's files and folders (Transmission's torrent-rename-path), as plain decisions.

A rename replaces one component of the torrent's paths: `path` ("name/dir/file", as the files
list shows them) names a file or a folder above some files, and every file at or below it takes
`new_name` in that place. Renaming the first component renames the torrent itself (its
top folder, or the file of a single-file torrent), as Transmission does. The result is a per-file
override of the paths the info dictionary names; `renamed_info` gives the Info the rest of the
session sees, so storage, status, moves and deletes all follow it. The info dictionary itself
(its bytes, its hash) never changes: peers and the metadata we serve see the original.

Pure: the session (session.py `rename_path`) does the renaming on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from torrentish.errors import TorrentishError
from torrentish.formats.metainfo import Info

Paths = tuple[tuple[str, ...], ...]


def safe_component(part: str) -> bool:
    """One name inside a directory: nothing that leads out of it or is not a name at all."""
    return bool(part) and part not in (".", "..") and not any(c in part for c in "/\\\0")


def rename(paths: Paths, path: str, new_name: str) -> Paths:
    """`paths` with the file or folder `path` renamed to `new_name`; TorrentishError (one line)
    when `path` is not one of them, `new_name` is not a plain name, or it would take the place
    of another file or folder of the torrent."""
    if not isinstance(new_name, str) or not safe_component(new_name):
        raise TorrentishError(f"{new_name!r} is not a file or folder name")
    old = tuple(path.split("/")) if isinstance(path, str) else ()
    if not old or not all(safe_component(p) for p in old):
        raise TorrentishError(f"{path!r} is not a file or folder of the torrent")
    depth = len(old)
    if not any(p[:depth] == old for p in paths):
        raise TorrentishError(f"the torrent has no file or folder {path!r}")
    if new_name == old[-1]:
        return paths
    new = (*old[:-1], new_name)
    if any(p[:depth] == new for p in paths):
        raise TorrentishError(f"the torrent has a file or folder {'/'.join(new)!r} already")
    return tuple((*new, *p[depth:]) if p[:depth] == old else p for p in paths)


def original_paths(info: Info) -> Paths:
    return tuple(f.path for f in info.files)


def renamed_info(info: Info, paths: Sequence[str]) -> Info:
    """`info` with its files at `paths` ("name/dir/file" each, one per file; () for none)."""
    if not paths:
        return info
    split = [tuple(p.split("/")) for p in paths]
    if len(split) != len(info.files) or not all(p and all(safe_component(c) for c in p) for p in split):
        return info  # not ours to trust (state_limits bounds it; state.py checks the form)
    if info.multi_file and (len({p[0] for p in split}) != 1 or any(len(p) < 2 for p in split)):
        return info
    if not info.multi_file and len(split[0]) != 1:
        return info
    files = tuple(replace(f, path=p) for f, p in zip(info.files, split))
    return replace(info, name=split[0][0], files=files)
