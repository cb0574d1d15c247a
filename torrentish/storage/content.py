"""Where a torrent's content is on disk: the path given as ``--data`` and each file under it.

No trio and no engine: ``torrentish verify`` imports this and starts fast.
"""

from __future__ import annotations

from pathlib import Path

from torrentish.formats.metainfo import Info


def resolve_content_path(info: Info, data: Path | None = None) -> Path:
    """Where a torrent's existing content is, given what the user passed as ``--data``.

    ``data/<name>`` if it exists; else ``data`` itself if it is the right kind of thing (a file for a
    single-file torrent, a directory for a multi-file one); else ``data/<name>``, which will be
    reported missing. ``data`` defaults to the current directory.
    """
    base = Path(data) if data is not None else Path.cwd()
    named = base / info.name
    if named.exists() or named.is_symlink():
        return named
    if (info.multi_file and base.is_dir()) or (not info.multi_file and base.is_file()):
        return base
    return named


def file_paths(info: Info, content_path: Path) -> list[Path | None]:
    """Where each file of ``info`` is under ``content_path`` (None for BEP 47 pad files)."""
    content_path = Path(content_path)
    if not info.multi_file:
        return [content_path]
    return [None if f.padding else content_path.joinpath(*f.path[1:]) for f in info.files]
