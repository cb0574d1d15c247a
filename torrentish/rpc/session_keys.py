"""session-get, session-set and session-stats: the session's settings in Transmission's terms.

Transmission keeps a speed limit's value and its on/off switch apart, in kB/s (1 kB = 1000
bytes); the session (SessionConfig) holds one number in bytes/s, 0 for none. `SpeedLimits`
remembers the values of switched-off limits so that a client can flip a switch back on.
Keys are snake_case here (names.py spells them the old way for old clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torrentish.rpc import protocol as p
from torrentish.rpc.protocol import INVALID_PARAMS, Request, RpcError

KB = 1000
# SessionConfig.encryption <-> Transmission's words (4.1 says "allowed" where 3.00 said "tolerated")
ENCRYPTION_TO_RPC = {"required": "required", "prefer": "preferred", "preferred": "preferred",
                     "tolerated": "tolerated"}
ENCRYPTION_FROM_RPC = {"required": "required", "preferred": "preferred", "tolerated": "tolerated",
                       "allowed": "tolerated"}


@dataclass(frozen=True)
class SessionInfo:
    version: str
    rpc_version: int
    rpc_version_minimum: int
    rpc_version_semver: str
    session_id: str
    config_dir: str


@dataclass
class SpeedLimits:
    """kB/s values and switches, as RPC clients see them."""

    up: int = 100
    up_enabled: bool = False
    down: int = 100
    down_enabled: bool = False
    alt_up: int = 50
    alt_down: int = 50

    @classmethod
    def from_config(cls, config: Any) -> SpeedLimits:
        def kb(value: int, default: int) -> int:
            return max(1, round(value / KB)) if value else default

        return cls(
            up=kb(config.up_limit, 100), up_enabled=bool(config.up_limit),
            down=kb(config.down_limit, 100), down_enabled=bool(config.down_limit),
            alt_up=kb(config.alt_up, 50), alt_down=kb(config.alt_down, 50),
        )


def session_values(config: Any, speeds: SpeedLimits, info: SessionInfo, *, jsonrpc: bool,
                   peer_port: int) -> dict[str, Any]:
    """Every session-get key we answer, snake_case."""
    encryption = ENCRYPTION_TO_RPC.get(config.encryption, "preferred")
    if jsonrpc and encryption == "tolerated":
        encryption = "allowed"
    units = {
        "speed_units": ["kB/s", "MB/s", "GB/s", "TB/s"], "speed_bytes": KB,
        "size_units": ["kB", "MB", "GB", "TB"], "size_bytes": KB,
        "memory_units": ["KiB", "MiB", "GiB", "TiB"], "memory_bytes": 1024,
    }
    ratio = config.ratio_limit
    idle = config.idle_limit_minutes
    return {
        "alt_speed_down": speeds.alt_down, "alt_speed_up": speeds.alt_up,
        "alt_speed_enabled": bool(config.alt_enabled),
        "alt_speed_time_begin": 540, "alt_speed_time_end": 1020, "alt_speed_time_day": 127,
        "alt_speed_time_enabled": False,
        "blocklist_enabled": False, "blocklist_size": 0, "blocklist_url": "",
        "cache_size_mib": 4, "config_dir": info.config_dir, "default_trackers": "",
        "dht_enabled": bool(config.dht), "lpd_enabled": bool(config.lsd), "pex_enabled": bool(config.pex),
        "download_dir": str(config.download_dir),
        "download_queue_enabled": config.max_active_downloads > 0,
        "download_queue_size": config.max_active_downloads or 5,
        "seed_queue_enabled": config.max_active_seeds > 0,
        "seed_queue_size": config.max_active_seeds or 10,
        "queue_stalled_enabled": False, "queue_stalled_minutes": 30,
        "encryption": encryption,
        "idle_seeding_limit": idle if idle is not None else 30,
        "idle_seeding_limit_enabled": idle is not None,
        "seed_ratio_limit": ratio if ratio is not None else 2.0,
        "seed_ratio_limited": ratio is not None,
        "incomplete_dir": str(config.download_dir), "incomplete_dir_enabled": False,
        "peer_limit_global": 200, "peer_limit_per_torrent": 50,
        "peer_port": peer_port, "peer_port_random_on_start": False, "port_forwarding_enabled": False,
        "rename_partial_files": False,
        "rpc_version": info.rpc_version, "rpc_version_minimum": info.rpc_version_minimum,
        "rpc_version_semver": info.rpc_version_semver,
        "script_torrent_added_enabled": False, "script_torrent_added_filename": "",
        "script_torrent_done_enabled": False, "script_torrent_done_filename": "",
        "script_torrent_done_seeding_enabled": False, "script_torrent_done_seeding_filename": "",
        "session_id": info.session_id,
        "speed_limit_down": speeds.down, "speed_limit_down_enabled": speeds.down_enabled,
        "speed_limit_up": speeds.up, "speed_limit_up_enabled": speeds.up_enabled,
        "start_added_torrents": True, "trash_original_torrent_files": False,
        "utp_enabled": config.transport != "tcp", "tcp_enabled": config.transport != "utp",
        "units": units,
        "version": info.version,
    }


# session-set keys we act on: name -> reader. The others (blocklists, scripts, ...) are
# accepted and ignored, as Transmission ignores keys it does not know.
def read_changes(request: Request, limits: p.Limits) -> dict[str, Any]:
    """The session-set arguments we act on, type-checked (snake_case keys)."""
    changes: dict[str, Any] = {}
    kbps = {"high": 2**31}
    readers = {
        "download_dir": lambda n: p.get_str(request, n, limits=limits),
        "speed_limit_up": lambda n: p.get_int(request, n, **kbps),
        "speed_limit_down": lambda n: p.get_int(request, n, **kbps),
        "speed_limit_up_enabled": lambda n: p.get_bool(request, n),
        "speed_limit_down_enabled": lambda n: p.get_bool(request, n),
        "alt_speed_up": lambda n: p.get_int(request, n, **kbps),
        "alt_speed_down": lambda n: p.get_int(request, n, **kbps),
        "alt_speed_enabled": lambda n: p.get_bool(request, n),
        "peer_port": lambda n: p.get_int(request, n, low=0, high=65535),
        "encryption": lambda n: p.get_str(request, n, max_length=16),
        "download_queue_size": lambda n: p.get_int(request, n, high=10**6),
        "download_queue_enabled": lambda n: p.get_bool(request, n),
        "seed_queue_size": lambda n: p.get_int(request, n, high=10**6),
        "seed_queue_enabled": lambda n: p.get_bool(request, n),
        "seed_ratio_limit": lambda n: p.get_number(request, n, high=1e6),
        "seed_ratio_limited": lambda n: p.get_bool(request, n),
        "idle_seeding_limit": lambda n: p.get_int(request, n, high=10**7),
        "idle_seeding_limit_enabled": lambda n: p.get_bool(request, n),
        "dht_enabled": lambda n: p.get_bool(request, n),
        "pex_enabled": lambda n: p.get_bool(request, n),
        "lpd_enabled": lambda n: p.get_bool(request, n),
        "utp_enabled": lambda n: p.get_bool(request, n),
        "tcp_enabled": lambda n: p.get_bool(request, n),
    }
    for name, read in readers.items():
        value = read(name)
        if value is not None:
            changes[name] = value
    if "encryption" in changes and changes["encryption"] not in ENCRYPTION_FROM_RPC:
        raise RpcError(INVALID_PARAMS, "encryption must be required, preferred or tolerated")
    return changes


def config_changes(config: Any, speeds: SpeedLimits, changes: dict[str, Any]) -> dict[str, Any]:
    """What to change in the SessionConfig for session-set `changes`; updates `speeds`."""
    for key, attr in (("speed_limit_up", "up"), ("speed_limit_down", "down"), ("alt_speed_up", "alt_up"),
                      ("alt_speed_down", "alt_down"), ("speed_limit_up_enabled", "up_enabled"),
                      ("speed_limit_down_enabled", "down_enabled")):
        if key in changes:
            setattr(speeds, attr, changes[key])
    # Only what the request touches: the session keeps runtime changes across restarts, and an
    # untouched setting must keep following the daemon's own configuration.
    out: dict[str, Any] = {}
    if "speed_limit_up" in changes or "speed_limit_up_enabled" in changes:
        out["up_limit"] = speeds.up * KB if speeds.up_enabled else 0
    if "speed_limit_down" in changes or "speed_limit_down_enabled" in changes:
        out["down_limit"] = speeds.down * KB if speeds.down_enabled else 0
    if "alt_speed_up" in changes:
        out["alt_up"] = speeds.alt_up * KB
    if "alt_speed_down" in changes:
        out["alt_down"] = speeds.alt_down * KB
    if "alt_speed_enabled" in changes:
        out["alt_enabled"] = changes["alt_speed_enabled"]
    simple = {"download_dir": "download_dir", "peer_port": "listen_port", "dht_enabled": "dht",
              "pex_enabled": "pex", "lpd_enabled": "lsd"}
    for key, attr in simple.items():
        if key in changes:
            out[attr] = changes[key]
    if "encryption" in changes:
        out["encryption"] = ENCRYPTION_FROM_RPC[changes["encryption"]]
    if "utp_enabled" in changes or "tcp_enabled" in changes:
        out["transport"] = _transport(config.transport, changes)
    for queue, attr in (("download_queue", "max_active_downloads"), ("seed_queue", "max_active_seeds")):
        enabled = changes.get(f"{queue}_enabled", getattr(config, attr) > 0)
        size = changes.get(f"{queue}_size", getattr(config, attr) or (5 if queue == "download_queue" else 10))
        if f"{queue}_enabled" in changes or f"{queue}_size" in changes:
            out[attr] = size if enabled else 0
    for limit, attr, default in (("seed_ratio_limit", "ratio_limit", 2.0),
                                 ("idle_seeding_limit", "idle_limit_minutes", 30)):
        enabled_key = "seed_ratio_limited" if limit == "seed_ratio_limit" else "idle_seeding_limit_enabled"
        current = getattr(config, attr)
        enabled = changes.get(enabled_key, current is not None)
        value = changes.get(limit, current if current is not None else default)
        if enabled_key in changes or limit in changes:
            out[attr] = value if enabled else None
    return out


def _transport(current: str, changes: dict[str, Any]) -> str:
    """SessionConfig.transport for session-set's utp_enabled / tcp_enabled (either may be absent)."""
    utp = changes.get("utp_enabled", current != "tcp")
    tcp = changes.get("tcp_enabled", current != "utp")
    if not (utp or tcp):
        raise RpcError(INVALID_PARAMS, "uTP and TCP cannot both be off")
    return "both" if utp and tcp else "utp" if utp else "tcp"


def stats_values(stats: Any) -> dict[str, Any]:
    """session-stats from the session's SessionStats."""
    def block(s: Any) -> dict[str, int]:
        return {"uploaded_bytes": int(s.uploaded), "downloaded_bytes": int(s.downloaded),
                "files_added": int(s.files_added), "session_count": int(s.session_count),
                "seconds_active": int(s.seconds_active)}

    return {
        "active_torrent_count": stats.active_torrent_count,
        "paused_torrent_count": stats.paused_torrent_count,
        "torrent_count": stats.torrent_count,
        "download_speed": int(stats.download_speed),
        "upload_speed": int(stats.upload_speed),
        "cumulative_stats": block(stats.cumulative),
        "current_stats": block(stats.current),
    }
