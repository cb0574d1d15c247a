"""Moving a torrent's data to another directory, and deleting it. Blocking: run in a thread.

Only the torrent's own files are touched (the paths its info dictionary names, below its content
path); other files a user put in the same directories stay, and so do directories that are not
empty afterwards. A symbolic link is never followed: it is moved or deleted as a link.

Moving within one filesystem is a single rename. Across filesystems each file is copied, the
copy is compared with the original (SHA-1 of both), and only then is the original deleted: a
failure at any point leaves the original data where it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from contextlib import suppress
from pathlib import Path

from torrentish.errors import StorageError
from torrentish.formats.metainfo import Info

CHUNK = 1024 * 1024


def torrent_files(info: Info, content_path: Path) -> list[Path]:
    """Where the torrent's files (pad files left out) are under `content_path`, leaving out any
    reached through a symbolic link below it (a planted link must not lead us elsewhere)."""
    if not info.multi_file:
        return [content_path]
    return [path for f in info.files if not f.padding
            for path in [content_path.joinpath(*f.path[1:])] if _no_links_between(content_path, path)]


def has_any_data(info: Info, content_path: Path) -> bool:
    """Whether some file of the torrent exists already (then its data is checked first)."""
    return any(_exists(p) for p in torrent_files(info, content_path))


def _no_links_between(top: Path, path: Path) -> bool:
    where = top
    for part in path.relative_to(top).parts[:-1]:
        where = where / part
        if where.is_symlink():
            return False
    return True


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def move_content(info: Info, source: Path, target: Path) -> None:
    """Move the data at `source` (a content path) to `target`; StorageError when it cannot."""
    if source == target or not _exists(source):
        return
    if _exists(target):
        raise StorageError(f"{target} exists already: not moving the data over it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise StorageError(f"cannot move {source} to {target}: {error.strerror or error}") from None
    _copy_then_delete(info, source, target)


def rename_item(top: Path, source: Path, target: Path) -> None:
    """Rename one file or folder of a torrent at or below its content path `top` (`target` is
    beside `source`); nothing to do if it is not on disk yet. StorageError when the target
    exists or the way there passes a symbolic link."""
    if not _exists(source):
        return
    if source != top and not _no_links_between(top, source):
        raise StorageError(f"{source} is reached through a symbolic link: not renaming it")
    if _exists(target):
        raise StorageError(f"{target} exists already: not renaming over it")
    try:
        os.rename(source, target)
    except OSError as error:
        raise StorageError(f"cannot rename {source} to {target.name}: {error.strerror or error}") from None


def _copy_then_delete(info: Info, source: Path, target: Path) -> None:
    pairs = [(s, target / s.relative_to(source)) if info.multi_file else (s, target)
             for s in torrent_files(info, source)]
    copied: list[Path] = []
    try:
        for old, new in pairs:
            if not _exists(old):
                continue
            new.parent.mkdir(parents=True, exist_ok=True)
            copied.append(new)  # before the copy: a half-made one is removed on failure too
            if old.is_symlink():
                os.symlink(os.readlink(old), new)
            else:
                shutil.copy2(old, new, follow_symlinks=False)
                if _digest(old) != _digest(new):
                    raise StorageError(f"the copy of {old} at {new} differs from the original")
    except OSError as error:
        _remove_files(copied, target)
        raise StorageError(f"cannot copy the data to {target}: {error.strerror or error}") from None
    except StorageError:
        _remove_files(copied, target)
        raise
    delete_content(info, source)


def _digest(path: Path) -> bytes:
    sha1 = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha1.update(chunk)
    return sha1.digest()


def delete_content(info: Info, content_path: Path) -> None:
    """Delete the torrent's files and the directories they leave empty, up to `content_path`."""
    _remove_files(torrent_files(info, content_path), content_path)


def _remove_files(files: list[Path], top: Path) -> None:
    directories: set[Path] = set()
    for path in files:
        with suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            path.unlink()
        parent = path.parent
        while parent != top.parent and (parent == top or top in parent.parents):
            directories.add(parent)
            parent = parent.parent
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        with suppress(OSError):  # not empty (a user's file), or already gone
            directory.rmdir()
