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
PARTS = ("files", "peers", "trackers", "pieces")  # the costly parts of a snapshot, taken only when asked


class Row:
    """One torrent being written out: its status snapshot is taken on first use only, with
    only the costly parts (`parts`) some requested field needs."""

    __slots__ = ("torrent", "legacy", "parts", "_status")

    def __init__(self, torrent: Any, legacy: bool, parts: dict[str, bool] | None = None):
        self.torrent = torrent
        self.legacy = legacy
        self.parts = parts if parts is not None else dict.fromkeys(PARTS, False)  # status() keywords
        self._status = None

    @property
    def status(self) -> Any:
        if self._status is None:
            self._status = self.torrent.status(**self.parts)
        return self._status


def _nested(row: Row, value: Any) -> Any:
    return names.to_legacy(value, in_torrent=True) if row.legacy else value


def _pieces(row: Row) -> str:
    return base64.b64encode(bytes(row.status.pieces)).decode("ascii")


def _files(row: Row) -> list[dict[str, Any]]:
    out = [{"name": f.name, "length": f.length, "bytes_completed": f.completed} for f in row.status.files]
    return _nested(row, out)


def _file_stats(row: Row) -> list[dict[str, Any]]:
    stats = [{"bytes_completed": f.completed, "wanted": bool(f.wanted), "priority": f.priority}
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
    utp = p.transport == "utp"
    if utp:
        flags += "T"  # Transmission's flag for a uTP peer
    return {
        "address": host,
        "port": port,
        "client_name": p.client,
        "client_is_choked": p.choking,  # the peer chokes us
        "client_is_interested": p.interesting,  # we want its data
        "peer_is_choked": p.choked,  # we choke the peer
        "peer_is_interested": p.interested,
        "flag_str": flags,
        "is_downloading_from": not p.choking and p.interesting,
        "is_uploading_to": not p.choked and p.interested,
        "is_encrypted": False,
        "is_incoming": not p.outgoing,
        "is_utp": utp,
        "progress": p.progress,
        "rate_to_client": int(p.down_rate),
        "rate_to_peer": int(p.up_rate),
    }


def _peers(row: Row) -> list[dict[str, Any]]:
    return _nested(row, [_peer(p) for p in row.status.peers])


def _peers_from(row: Row) -> dict[str, int]:
    incoming = sum(1 for p in row.status.peers if not p.outgoing)
    counts = {"from_cache": 0, "from_dht": 0, "from_incoming": incoming, "from_lpd": 0, "from_ltep": 0,
              "from_pex": 0, "from_tracker": len(row.status.peers) - incoming}
    return _nested(row, counts)


def _sitename(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    parts = [p for p in host.strip("[]").split(".") if p]
    return parts[-2] if len(parts) >= 2 and not host.replace(".", "").isdigit() else host


def _scrape_url(announce: str) -> str:
    head, _, last = announce.rpartition("/")
    return f"{head}/scrape{last[len('announce'):]}" if last.startswith("announce") else ""


def _trackers(row: Row) -> list[dict[str, Any]]:
    out = [{"announce": t.url, "id": i, "scrape": _scrape_url(t.url), "sitename": _sitename(t.url), "tier": t.tier}
           for i, t in enumerate(row.status.trackers)]
    return _nested(row, out)


def _tracker_stat(i: int, t: Any, tiers_seen: set[int]) -> dict[str, Any]:
    backup = t.tier in tiers_seen
    tiers_seen.add(t.tier)
    announced = t.last_announce > 0
    return {
        "announce": t.url, "announce_state": 3 if t.announcing else (1 if t.next_announce else 0),
        "download_count": -1, "downloader_count": -1, "has_announced": announced, "has_scraped": False,
        "host": t.url.split("://", 1)[-1].split("/", 1)[0], "id": i, "is_backup": backup,
        "last_announce_peer_count": t.peers, "last_announce_result": t.result or ("Success" if t.succeeded else ""),
        "last_announce_start_time": t.last_announce, "last_announce_succeeded": t.succeeded,
        "last_announce_time": t.last_announce, "last_announce_timed_out": False,
        "last_scrape_result": "", "last_scrape_start_time": 0, "last_scrape_succeeded": False,
        "last_scrape_time": 0, "last_scrape_timed_out": False,
        "leecher_count": t.leechers, "next_announce_time": t.next_announce, "next_scrape_time": 0,
        "scrape": _scrape_url(t.url), "scrape_state": 0, "seeder_count": t.seeders,
        "sitename": _sitename(t.url), "tier": t.tier,
    }


def _tracker_stats(row: Row) -> list[dict[str, Any]]:
    seen: set[int] = set()
    return _nested(row, [_tracker_stat(i, t, seen) for i, t in enumerate(row.status.trackers)])


def _tracker_list(row: Row) -> str:
    tiers: dict[int, list[str]] = {}
    for t in row.status.trackers:
        tiers.setdefault(t.tier, []).append(t.url)
    return "\n\n".join("\n".join(urls) for _, urls in sorted(tiers.items()))


def _availability(row: Row) -> list[int]:
    """-1 for pieces we have; for the others the number of connected seeds (the snapshot keeps no
    per-piece counts, and a seed is the one peer certain to have every piece)."""
    s = row.status
    have = bytes(s.pieces)
    seeds = sum(1 for p in s.peers if p.progress >= 1.0)
    return [-1 if i >> 3 < len(have) and have[i >> 3] & (0x80 >> (i & 7)) else seeds for i in range(s.piece_count)]


def _either(row: Row, name: str) -> Any:
    """From the snapshot when the row took one already (it has the value made), else the torrent."""
    if row._status is not None:
        return getattr(row._status, name)
    value = getattr(row.torrent, name)
    return value if isinstance(value, str) else str(value)


def _status_attr(name: str) -> Callable[[Row], Any]:
    return lambda row: getattr(row.status, name)


def _torrent_attr(name: str) -> Callable[[Row], Any]:
    return lambda row: getattr(row.torrent, name)


def _int_status(name: str) -> Callable[[Row], Any]:
    return lambda row: int(getattr(row.status, name))


FIELDS: dict[str, Callable[[Row], Any]] = {
    # from the managed torrent alone: no snapshot
    "id": _torrent_attr("id"),
    "name": _torrent_attr("name"),
    "hash_string": lambda row: row.torrent.info_hash.hex(),
    "status": lambda row: STATUS_NUMBERS.get(row.torrent.state, 0),
    "error": _torrent_attr("error"),
    "error_string": lambda row: row.torrent.error_string if row.torrent.error else "",
    "download_dir": lambda row: _either(row, "download_dir"),
    "added_date": lambda row: int(row.torrent.added_date or 0),
    "done_date": lambda row: int(row.torrent.done_date or 0),
    "activity_date": lambda row: int(row.torrent.activity_date or 0),
    "labels": lambda row: list(row.torrent.labels),
    "magnet_link": lambda row: _either(row, "magnet_link"),
    "queue_position": _torrent_attr("queue_position"),
    "is_stalled": lambda row: False,
    "edit_date": lambda row: 0,
    "manual_announce_time": lambda row: -1,
    "bandwidth_priority": lambda row: 0,
    "group": lambda row: "",
    "primary_mime_type": lambda row: "application/octet-stream",
    "webseeds_sending_to_us": lambda row: row.status.web_seeds_sending_to_us,
    "eta_idle": lambda row: -1,
    "max_connected_peers": lambda row: 50,
    "peer_limit": lambda row: 50,
    "have_unchecked": lambda row: 0,
    # from the status snapshot
    "total_size": _status_attr("total_size"),
    "size_when_done": _status_attr("size_when_done"),
    "left_until_done": _status_attr("left_until_done"),
    "have_valid": _status_attr("have_valid"),
    "corrupt_ever": _status_attr("corrupt_ever"),
    "desired_available": lambda row: row.status.left_until_done if row.status.peers_sending_to_us else 0,
    "percent_done": _status_attr("percent_done"),
    "percent_complete": _status_attr("percent_complete"),
    "metadata_percent_complete": _status_attr("metadata_percent"),
    "recheck_progress": lambda row: 0.0,
    "rate_download": _int_status("rate_download"),
    "rate_upload": _int_status("rate_upload"),
    "eta": _status_attr("eta"),
    "upload_ratio": lambda row: round(row.status.ratio, 4),
    "uploaded_ever": _status_attr("uploaded_ever"),
    "downloaded_ever": _status_attr("downloaded_ever"),
    "is_finished": _status_attr("is_finished"),
    "is_private": _status_attr("is_private"),
    "peers_connected": _status_attr("peers_connected"),
    "peers_sending_to_us": _status_attr("peers_sending_to_us"),
    "peers_getting_from_us": _status_attr("peers_getting_from_us"),
    "peers": _peers,
    "peers_from": _peers_from,
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
    "comment": _status_attr("comment"),
    "creator": _status_attr("creator"),
    "date_created": _status_attr("date_created"),
    "torrent_file": lambda row: "",
    "webseeds": lambda row: list(row.status.web_seeds),
    "start_date": _status_attr("start_date"),
    "seconds_downloading": _status_attr("seconds_downloading"),
    "seconds_seeding": _status_attr("seconds_seeding"),
    "download_limit": lambda row: row.status.down_limit // 1000,  # kB/s
    "download_limited": _status_attr("down_limited"),
    "upload_limit": lambda row: row.status.up_limit // 1000,
    "upload_limited": _status_attr("up_limited"),
    "honors_session_limits": _status_attr("honors_session"),
    "seed_ratio_limit": _status_attr("ratio_limit"),
    "seed_ratio_mode": _status_attr("ratio_mode"),
    "seed_idle_limit": _status_attr("idle_limit"),
    "seed_idle_mode": _status_attr("idle_mode"),
    "sequential_download": _status_attr("sequential"),
}
# Which costly snapshot part each field needs (the others need none or no snapshot at all).
NEEDS = {
    "files": "files", "file_stats": "files", "file_count": "files", "priorities": "files", "wanted": "files",
    "peers": "peers", "peers_from": "peers", "availability": "pieces",
    "trackers": "trackers", "tracker_stats": "trackers", "tracker_list": "trackers", "pieces": "pieces",
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


def _parts(wanted: list[tuple[str, str, Callable[[Row], Any]]]) -> dict[str, bool]:
    """status() keywords: which costly parts the requested fields need."""
    parts = {NEEDS[name] for _, name, _ in wanted if name in NEEDS}
    if "availability" in {name for _, name, _ in wanted}:
        parts.add("peers")
    return {part: part in parts for part in PARTS}


def torrent_objects(torrents: Sequence[Any], fields: Iterable[str], legacy: bool) -> list[dict[str, Any]]:
    """The `objects` format: one {field: value} per torrent, keys as the client spelled them."""
    wanted = requested(fields)
    parts = _parts(wanted)
    rows = []
    for torrent in torrents:
        row = Row(torrent, legacy, parts)
        rows.append({asked: function(row) for asked, _, function in wanted})
    return rows


def torrent_table(torrents: Sequence[Any], fields: Iterable[str], legacy: bool) -> list[list[Any]]:
    """The `table` format: a header row of field names, then one row of values per torrent."""
    wanted = requested(fields)
    parts = _parts(wanted)
    table: list[list[Any]] = [[asked for asked, _, _ in wanted]]
    for torrent in torrents:
        row = Row(torrent, legacy, parts)
        table.append([function(row) for _, _, function in wanted])
    return table
