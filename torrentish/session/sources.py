"""What `Session.add` accepts: .torrent bytes, a path to a .torrent, a magnet link, or an Info.

Each becomes an `AddSource`: the info hash, the metainfo (None for a magnet link until its
metadata arrives) with the exact bytes to keep in the state dir, and the parsed link.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torrentish.errors import TorrentishError
from torrentish.formats.magnet import Magnet, check_fetched_info, parse_magnet
from torrentish.formats.metainfo import Info, Metainfo, build_torrent, load_torrent, parse_torrent


@dataclass(frozen=True)
class AddSource:
    info_hash: bytes
    meta: Metainfo | None
    torrent_bytes: bytes | None  # what goes to <hash>.torrent
    magnet: Magnet | None
    magnet_uri: str = ""


def read_source(source: bytes | bytearray | Path | str | Info | Metainfo) -> AddSource:
    """Parse what a user added; MetainfoError / MagnetError (TorrentishErrors) when it is bad."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        meta = parse_torrent(data)
        return AddSource(meta.info.info_hash, meta, data, None)
    if isinstance(source, Info):
        return _from_meta(parse_torrent(build_torrent(source.raw, piece_layers=source.piece_layers)))
    if isinstance(source, Metainfo):
        return _from_meta(source)
    if isinstance(source, str) and source[:7].lower() == "magnet:":
        magnet = parse_magnet(source)
        return AddSource(magnet.info_hash, None, None, magnet, source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        meta = load_torrent(path)  # bounded read, validated
        return _from_meta(meta)
    raise TorrentishError(f"cannot add a {type(source).__name__}: give .torrent bytes, a path or a magnet link")


def _from_meta(meta: Metainfo) -> AddSource:
    tiers = [list(t) for t in meta.announce_list] or ([[meta.announce]] if meta.announce else [])
    data = build_torrent(meta.info.raw, announce_list=tiers, url_list=meta.url_list, comment=meta.comment,
                         created_by=meta.created_by, creation_date=meta.creation_date,
                         piece_layers=meta.piece_layers)
    return AddSource(meta.info.info_hash, meta, data, None)


def metainfo_from_magnet(info: Info, magnet: Magnet) -> tuple[Metainfo, bytes]:
    """A whole torrent once a magnet link's metadata arrived: the info with the link's trackers
    and web seeds."""
    check_fetched_info(magnet, info)
    data = build_torrent(info.raw, announce_list=[[t] for t in magnet.trackers], url_list=magnet.web_seeds,
                         piece_layers=info.piece_layers)
    return parse_torrent(data), data
