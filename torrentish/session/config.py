"""How a session is set up, and which of its settings may change while it runs.

`SessionConfig` is what the owner (the daemon, `get`, a script) passes to `open_session`. The
settings in `RUNTIME_SETTINGS` can also be changed while the session runs (`Session.update`,
the RPC's session-set); a persistent session keeps those changes in its session record and
they win over the owner's values at the next start, as Transmission's settings.json does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from torrentish.engine.settings import TRANSPORTS, Settings
from torrentish.errors import TorrentishError

ENCRYPTION_MODES = ("required", "preferred", "prefer", "tolerated")


@dataclass
class SessionConfig:
    state_dir: Path | None  # None: nothing is kept (one-shot users such as `torrentish get`)
    download_dir: Path
    listen_port: int = 51413
    host: str = "0.0.0.0"
    max_active_downloads: int = 5  # 0: no limit (Transmission's download-queue-size)
    max_active_seeds: int = 10  # 0: no limit (seed-queue-size)
    up_limit: int = 0  # bytes/s, 0: none
    down_limit: int = 0
    alt_up: int = 0  # the alternative ("turtle") limits, used while alt_enabled
    alt_down: int = 0
    alt_enabled: bool = False
    ratio_limit: float | None = None  # stop seeding at this share ratio (None: never)
    idle_limit_minutes: int | None = None  # stop seeding after this long without traffic
    lsd: bool = True
    dht: bool = True
    pex: bool = True
    trackers: bool = True  # announce torrents to their trackers
    encryption: str = "prefer"  # kept and reported; the wire is plain until MSE lands
    allowed_roots: tuple[Path, ...] = ()  # where data may go; () = download_dir and below
    dht_bootstrap: tuple[str, ...] = ()  # "host:port"; () = the public routers
    dht_state_path: Path | None = None  # the DHT's routing table; None: state_dir/dht.state, if kept
    check_concurrency: int = 1  # torrents whose data is checked at once
    # Map the listen port on the NAT gateway (services/portmap PortMapSettings); None: do not.
    port_mapping: object | None = None
    engine: Settings = field(default_factory=Settings)  # its transport "both": uTP on, as in Transmission

    # The peer transports ("both", "utp" or "tcp"; Transmission's utp-enabled and tcp-enabled) are
    # the engine's, named here too so that they change at runtime and are kept like the others.
    @property
    def transport(self) -> str:
        return self.engine.transport

    @transport.setter
    def transport(self, value: str) -> None:
        self.engine.transport = value

    def roots(self) -> tuple[Path, ...]:
        return tuple(self.allowed_roots) or (Path(self.download_dir),)


# name -> type of the settings that can change at runtime (and are kept across restarts).
RUNTIME_SETTINGS: dict[str, type] = {
    "download_dir": Path,
    "listen_port": int,
    "max_active_downloads": int,
    "max_active_seeds": int,
    "up_limit": int,
    "down_limit": int,
    "alt_up": int,
    "alt_down": int,
    "alt_enabled": bool,
    "ratio_limit": float,  # or None
    "idle_limit_minutes": int,  # or None
    "encryption": str,
    "lsd": bool,
    "dht": bool,
    "pex": bool,
    "transport": str,  # SessionConfig.transport: the engine's, switched while the session runs
}
_OPTIONAL = {"ratio_limit", "idle_limit_minutes"}


def check_setting(name: str, value: object) -> object:
    """`value` as setting `name` takes it; TorrentishError with a one-line reason otherwise."""
    kind = RUNTIME_SETTINGS.get(name)
    if kind is None:
        raise TorrentishError(f"unknown session setting {name!r}")
    if value is None and name in _OPTIONAL:
        return None
    if kind is bool:
        if type(value) is not bool:
            raise TorrentishError(f"{name} must be true or false")
        return value
    if kind is int:
        if type(value) is not int or not 0 <= value <= 2**40 or (name == "listen_port" and value > 65535):
            raise TorrentishError(f"{name} must be a whole number in range, not {value!r}")
        return value
    if kind is float:
        if type(value) not in (int, float) or not 0 <= value <= 10**6:
            raise TorrentishError(f"{name} must be a number from 0 to 1000000, not {value!r}")
        return float(value)
    if kind is Path:
        if not isinstance(value, (str, Path)) or not str(value) or "\0" in str(value) or len(str(value)) > 4096:
            raise TorrentishError(f"{name} must be a directory path")
        if not os.path.isabs(value):
            raise TorrentishError(f"{name} must be an absolute path, not {str(value)!r}")
        return Path(value)
    if name == "encryption" and value not in ENCRYPTION_MODES:
        raise TorrentishError(f"encryption must be one of {', '.join(ENCRYPTION_MODES)}")
    if name == "transport" and value not in TRANSPORTS:
        raise TorrentishError(f"transport must be one of {', '.join(TRANSPORTS)}")
    return value


def to_record(name: str, value: object) -> int | str:
    """A setting as the session record keeps it (bencoding: ints and strings only)."""
    if value is None:
        return -1
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value * 1000)
    if isinstance(value, Path):
        return str(value)
    return value  # type: ignore[return-value]


def from_record(name: str, value: int | str) -> object:
    """A kept setting back; TorrentishError if it is not one (the owner's value is kept then)."""
    kind = RUNTIME_SETTINGS.get(name)
    if kind is None:
        raise TorrentishError(f"unknown session setting {name!r}")
    if name in _OPTIONAL and value == -1:
        return None
    if kind is bool:
        return check_setting(name, bool(value) if value in (0, 1) else value)
    if kind is float:
        return check_setting(name, value / 1000 if type(value) is int else value)
    return check_setting(name, value)


def setting_names() -> list[str]:
    return [f.name for f in fields(SessionConfig) if f.name in RUNTIME_SETTINGS] + ["transport"]
