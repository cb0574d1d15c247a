"""torrent-get: the fields a front-end asks for, computed from a torrent and its status snapshot.

A row is computed lazily: fields the managed torrent knows itself (id, name, state, dates,
labels, ...) never take a snapshot; the first field that needs sizes, rates, peers or files
takes `torrent.status()` once for the row. A `torrent-get` of 1,000 torrents with 20 fields is
then about 20,000 small function calls (bench/bench_rpc.py measures it).

Names are snake_case here; `FIELDS` maps each to the function computing it. Values of nested
objects (files, peers, trackers) come out in the spelling asked for (`legacy=True`: the old
camelCase of Transmission <= 4.0). Unknown field names are skipped, as Transmission does.
Pure: no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from torrentish.rpc import names

# Transmission's tr_torrent_activity numbers.
STATUS_NUMBERS = {
    "stopped": 0, "check-wait": 1, "checking": 2, "download-wait": 3,
    "downloading": 4, "seed-wait": 5, "seeding": 6,
}
ETA_NOT_AVAILABLE = -1  # stopped, or done (no seed limit)
ETA_UNKNOWN = -2  # downloading, but no rate to go by


class Row:
    """One torrent being written out: its status snapshot is taken on first use only."""

    __slots__ = ("torrent", "legacy", "_status")

    def __init__(self, torrent: Any, legacy: bool):
        self.torrent = torrent
        self.legacy = legacy
        self._status = None

    @property
    def status(self) -> Any:
        if self._status is None:
            self._status = self.torrent.status()
        return self._status


def _nested(row: Row, value: Any) -> Any:
    return names.to_legacy(value, in_torrent=True) if row.legacy else value


def _percent_done(row: Row) -> float:
    s = row.status
    if not s.size_when_done:
        return 1.0 if s.metadata_percent_complete >= 1 else 0.0
    return (s.size_when_done - s.left_until_done) / s.size_when_done


def _percent_complete(row: Row) -> float:
    s = row.status
    return s.have_valid / s.total_size if s.total_size else 0.0


def _eta(row: Row) -> int:
    s = row.status
    if row.torrent.state not in ("downloading", "download-wait"):
        return ETA_NOT_AVAILABLE
    if s.left_until_done <= 0:
        return ETA_NOT_AVAILABLE
    if s.rate_download < 1:
        return ETA_UNKNOWN
    return int(s.left_until_done / s.rate_download)


def _ratio(row: Row) -> float:
    s = row.status
    if s.downloaded_ever:
        return round(s.uploaded_ever / s.downloaded_ever, 4)
    if s.uploaded_ever and s.size_when_done:
        return round(s.uploaded_ever / s.size_when_done, 4)
    return 0.0 if not s.uploaded_ever else -2.0  # Transmission's TR_RATIO_INF


def _pieces(row: Row) -> str:
    return base64.b64encode(bytes(row.status.pieces)).decode("ascii")


def _files(row: Row) -> list[dict[str, Any]]:
    jsonrpc = not row.legacy
    out = []
    for f in row.status.files:
        entry = {"name": f.name, "length": f.length, "bytes_completed": f.bytes_completed}
        if jsonrpc:
            entry["begin_piece"] = f.begin_piece
            entry["end_piece"] = f.end_piece
        out.append(entry)
    return _nested(row, out)


def _file_stats(row: Row) -> list[dict[str, Any]]:
    stats = [{"bytes_completed": f.bytes_completed, "wanted": bool(f.wanted), "priority": f.priority}
             for f in row.status.files]
    return _nested(row, stats)


def _wanted(row: Row) -> list:
    # The old API sends 0/1 here (and clients test for it); JSON-RPC sends booleans.
    if row.legacy:
        return [1 if f.wanted else 0 for f in row.status.files]
    return [bool(f.wanted) for f in row.status.files]


def _peer(p: Any) -> dict[str, Any]:
    host, port = p.address
    flags = p.flags if p.flags != "-" else ""
    return {
        "address": host,
        "port": port,
        "client_name": p.client,
        # our flags (engine/status.py): D/d we want data and get it / are choked; U/u likewise for them
        "client_is_choked": "D" not in flags,
        "client_is_interested": "D" in flags or "d" in flags,
        "peer_is_choked": "U" not in flags,
        "peer_is_interested": "U" in flags or "u" in flags,
        "flag_str": flags,
        "is_downloading_from": "D" in flags,
        "is_uploading_to": "U" in flags,
        "is_encrypted": bool(getattr(p, "encrypted", False)),
        "is_incoming": not p.outgoing,
        "is_utp": bool(getattr(p, "utp", False)),
        "progress": p.progress,
        "rate_to_client": int(p.down_rate),
        "rate_to_peer": int(p.up_rate),
        "bytes_to_client": p.downloaded,
        "bytes_to_peer": p.uploaded,
    }


def _peers(row: Row) -> list[dict[str, Any]]:
    return _nested(row, [_peer(p) for p in row.status.peers])


def _peers_from(row: Row) -> dict[str, int]:
    counts = {"from_cache": 0, "from_dht": 0, "from_incoming": 0, "from_lpd": 0, "from_ltep": 0,
              "from_pex": 0, "from_tracker": 0}
    for p in row.status.peers:
        source = "from_incoming" if not p.outgoing else "from_" + getattr(p, "source", "tracker")
        if source in counts:
            counts[source] += 1
    return _nested(row, counts)


def _sitename(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    parts = [p for p in host.strip("[]").split(".") if p]
    return parts[-2] if len(parts) >= 2 and not host.replace(".", "").isdigit() else host


def _trackers(row: Row) -> list[dict[str, Any]]:
    out = [{"announce": t.announce, "id": t.id, "scrape": t.scrape, "sitename": _sitename(t.announce),
            "tier": t.tier} for t in row.status.trackers]
    return _nested(row, out)


def _tracker_stat(t: Any) -> dict[str, Any]:
    return {
        "announce": t.announce, "announce_state": t.announce_state, "download_count": t.download_count,
        "downloader_count": t.download_count, "has_announced": t.has_announced, "has_scraped": t.has_scraped,
        "host": t.announce.split("://", 1)[-1].split("/", 1)[0], "id": t.id, "is_backup": t.is_backup,
        "last_announce_peer_count": t.last_announce_peer_count,
        "last_announce_result": t.last_announce_result,
        "last_announce_start_time": t.last_announce_start_time,
        "last_announce_succeeded": t.last_announce_succeeded, "last_announce_time": t.last_announce_time,
        "last_announce_timed_out": t.last_announce_timed_out, "last_scrape_result": t.last_scrape_result,
        "last_scrape_start_time": t.last_scrape_start_time, "last_scrape_succeeded": t.last_scrape_succeeded,
        "last_scrape_time": t.last_scrape_time, "last_scrape_timed_out": t.last_scrape_timed_out,
        "leecher_count": t.leecher_count, "next_announce_time": t.next_announce_time,
        "next_scrape_time": t.next_scrape_time, "scrape": t.scrape, "scrape_state": t.scrape_state,
        "seeder_count": t.seeder_count, "sitename": _sitename(t.announce), "tier": t.tier,
    }


def _tracker_stats(row: Row) -> list[dict[str, Any]]:
    return _nested(row, [_tracker_stat(t) for t in row.status.trackers])


def _tracker_list(row: Row) -> str:
    tiers: dict[int, list[str]] = {}
    for t in row.status.trackers:
        tiers.setdefault(t.tier, []).append(t.announce)
    return "\n\n".join("\n".join(urls) for _, urls in sorted(tiers.items()))


def _availability(row: Row) -> list[int]:
    s = row.status
    have = bytes(s.pieces)
    counts = s.availability
    return [-1 if have[i >> 3] & (0x80 >> (i & 7)) else counts[i] for i in range(s.piece_count)]


def _status_attr(name: str, default: Any = None) -> Callable[[Row], Any]:
    if default is None:
        return lambda row: getattr(row.status, name)
    return lambda row: getattr(row.status, name, default)


def _torrent_attr(name: str) -> Callable[[Row], Any]:
    return lambda row: getattr(row.torrent, name)


def _is_finished(row: Row) -> bool:
    return row.torrent.state == "stopped" and bool(row.torrent.done_date) and row.status.left_until_done == 0


FIELDS: dict[str, Callable[[Row], Any]] = {
    # from the managed torrent alone: no snapshot
    "id": _torrent_attr("id"),
    "name": _torrent_attr("name"),
    "hash_string": lambda row: row.torrent.info_hash.hex(),
    "status": lambda row: STATUS_NUMBERS.get(row.torrent.state, 0),
    "error": _torrent_attr("error"),
    "error_string": _torrent_attr("error_string"),
    "download_dir": lambda row: str(row.torrent.download_dir),
    "added_date": lambda row: int(row.torrent.added_date),
    "done_date": lambda row: int(row.torrent.done_date or 0),
    "activity_date": lambda row: int(row.torrent.activity_date or 0),
    "labels": lambda row: list(row.torrent.labels),
    "magnet_link": _torrent_attr("magnet_link"),
    "queue_position": lambda row: getattr(row.torrent, "queue_position", 0),
    "is_stalled": lambda row: False,
    "edit_date": lambda row: 0,
    "manual_announce_time": lambda row: -1,
    "bandwidth_priority": lambda row: 0,
    "group": lambda row: "",
    # from the status snapshot
    "total_size": _status_attr("total_size"),
    "size_when_done": _status_attr("size_when_done"),
    "left_until_done": _status_attr("left_until_done"),
    "have_valid": _status_attr("have_valid"),
    "have_unchecked": _status_attr("have_unchecked", 0),
    "corrupt_ever": _status_attr("corrupt_ever", 0),
    "desired_available": lambda row: row.status.left_until_done if row.status.peers else 0,
    "percent_done": _percent_done,
    "percent_complete": _percent_complete,
    "metadata_percent_complete": _status_attr("metadata_percent_complete"),
    "recheck_progress": _status_attr("recheck_progress", 0.0),
    "rate_download": lambda row: int(row.status.rate_download),
    "rate_upload": lambda row: int(row.status.rate_upload),
    "eta": _eta,
    "eta_idle": lambda row: ETA_NOT_AVAILABLE,
    "upload_ratio": _ratio,
    "uploaded_ever": _status_attr("uploaded_ever"),
    "downloaded_ever": _status_attr("downloaded_ever"),
    "is_finished": _is_finished,
    "is_private": _status_attr("is_private", False),
    "peers_connected": lambda row: len(row.status.peers),
    "peers_sending_to_us": lambda row: sum(1 for p in row.status.peers if "D" in p.flags),
    "peers_getting_from_us": lambda row: sum(1 for p in row.status.peers if "U" in p.flags),
    "webseeds_sending_to_us": lambda row: 0,
    "peers": _peers,
    "peers_from": _peers_from,
    "max_connected_peers": _status_attr("max_peers", 50),
    "peer_limit": _status_attr("max_peers", 50),
    "files": _files,
    "file_stats": _file_stats,
    "file_count": lambda row: len(row.status.files),
    "priorities": lambda row: [f.priority for f in row.status.files],
    "wanted": _wanted,
    "pieces": _pieces,
    "piece_count": _status_attr("piece_count"),
    "piece_size": _status_attr("piece_size"),
    "availability": _availability,
    "trackers": _trackers,
    "tracker_stats": _tracker_stats,
    "tracker_list": _tracker_list,
    "comment": _status_attr("comment", ""),
    "creator": _status_attr("creator", ""),
    "date_created": _status_attr("date_created", 0),
    "torrent_file": _status_attr("torrent_file", ""),
    "webseeds": lambda row: list(getattr(row.status, "webseeds", ())),
    "primary_mime_type": lambda row: "application/octet-stream",
    "start_date": _status_attr("start_date", 0),
    "seconds_downloading": _status_attr("seconds_downloading", 0),
    "seconds_seeding": _status_attr("seconds_seeding", 0),
    "download_limit": _status_attr("download_limit_kbps", 0),
    "download_limited": _status_attr("download_limited", False),
    "upload_limit": _status_attr("upload_limit_kbps", 0),
    "upload_limited": _status_attr("upload_limited", False),
    "honors_session_limits": _status_attr("honors_session_limits", True),
    "seed_ratio_limit": _status_attr("seed_ratio_limit", 2.0),
    "seed_ratio_mode": _status_attr("seed_ratio_mode", 0),
    "seed_idle_limit": _status_attr("seed_idle_limit", 30),
    "seed_idle_mode": _status_attr("seed_idle_mode", 0),
    "sequential_download": _status_attr("sequential", False),
}


def requested(fields: Iterable[str]) -> list[tuple[str, str, Callable[[Row], Any]]]:
    """(name as asked, snake name, function) for each known field, duplicates dropped."""
    seen, out = set(), []
    for asked in fields:
        name = names.canonical(asked)
        function = FIELDS.get(name)
        if function is not None and name not in seen:
            seen.add(name)
            out.append((asked, name, function))
    return out


def torrent_objects(torrents: Sequence[Any], fields: Iterable[str], legacy: bool) -> list[dict[str, Any]]:
    """The `objects` format: one {field: value} per torrent, keys as the client spelled them."""
    wanted = requested(fields)
    rows = []
    for torrent in torrents:
        row = Row(torrent, legacy)
        rows.append({asked: function(row) for asked, _, function in wanted})
    return rows


def torrent_table(torrents: Sequence[Any], fields: Iterable[str], legacy: bool) -> list[list[Any]]:
    """The `table` format: a header row of field names, then one row of values per torrent."""
    wanted = requested(fields)
    table: list[list[Any]] = [[asked for asked, _, _ in wanted]]
    for torrent in torrents:
        row = Row(torrent, legacy)
        table.append([function(row) for _, _, function in wanted])
    return table
