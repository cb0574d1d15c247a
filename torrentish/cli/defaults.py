"""Defaults for the command line from a TOML config file and TORRENTISH_* environment variables.

    # ~/.config/torrentish/config.toml (see `torrentish config`)
    port = 6881
    download_dir = "~/Downloads"
    max_up = "2MiB/s"

Precedence: a command-line option, then the environment variable, then the config file, then the
built-in default. The values become click's `default_map` (cli.py installs it), so `--help` shows
the defaults in effect. Unknown keys and bad values are errors naming the file or variable: a
typo in a config file should not silently do nothing.

To add a key: one `Key` in KEYS, naming the commands and parameters it sets (docs/cli.md lists them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torrentish.errors import TorrentishError
from torrentish.paths import config_path


class ConfigError(TorrentishError):
    """A bad config file or TORRENTISH_* variable."""


def _port(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"a port is a number from 0 to 65535, not {value!r}")
    return value


def _rate(value: Any) -> str:
    from torrentish.formats.units import parse_rate

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"a rate is text such as \"2MiB/s\" or a number of bytes per second, not {value!r}")
    parse_rate(str(value))  # raises ValueError with a helpful message
    return str(value)


def _directory(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a directory is a path in quotes, not {value!r}")
    return str(Path(value).expanduser())


def _url(value: Any) -> str:
    if not isinstance(value, str) or "://" not in value and ":" not in value:
        raise ValueError(f"expected a URL such as \"http://host:9091/transmission/rpc\", not {value!r}")
    return value.strip()


def _credentials(value: Any) -> str:
    if not isinstance(value, str) or ":" not in value or value.startswith(":"):
        raise ValueError("expected USER:PASSWORD")  # the value itself is a secret: not echoed
    return value


def _transport(value: Any) -> str:
    from torrentish.engine.settings import TRANSPORTS

    if not isinstance(value, str) or value.strip().lower() not in TRANSPORTS:
        raise ValueError(f"transport is one of {', '.join(TRANSPORTS)}, not {value!r}")
    return value.strip().lower()


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _encryption(value: Any) -> str:
    from torrentish.engine.settings import ENCRYPTION_POLICIES

    if not isinstance(value, str) or value.strip().lower() not in ENCRYPTION_POLICIES:
        raise ValueError(f"encryption is one of {', '.join(ENCRYPTION_POLICIES)}, not {value!r}")
    return value.strip().lower()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, not {value!r}")


def _protocols(value: Any) -> str:
    from torrentish.services.portmap.leases import parse_protocols

    if not isinstance(value, str):
        raise ValueError(f"port mapping protocols are text such as \"pcp,natpmp,upnp\", not {value!r}")
    return ",".join(parse_protocols(value))


@dataclass(frozen=True)
class Key:
    name: str  # in the config file
    env: str  # the environment variable
    parse: Callable[[Any], Any]  # validates; returns what click gets as the default
    params: Mapping[str, str]  # command -> parameter it sets
    help: str


KEYS: tuple[Key, ...] = (
    Key("port", "TORRENTISH_PORT", _port, {"get": "port", "seed": "port", "daemon": "port"}, "port to listen on (0 = any free port)"),
    Key("download_dir", "TORRENTISH_DOWNLOAD_DIR", _directory, {"get": "out", "daemon": "download_dir"},
        "where `get` and the daemon put downloads"),
    Key("max_up", "TORRENTISH_MAX_UP", _rate, {"get": "max_up", "seed": "max_up"}, "upload limit, e.g. 2MiB/s"),
    Key("max_down", "TORRENTISH_MAX_DOWN", _rate, {"get": "max_down"}, "download limit, e.g. 10MiB/s"),
    Key("keep_seeding", "TORRENTISH_KEEP_SEEDING", _flag, {"get": "seed"}, "`get` keeps seeding when done"),
    Key("lsd", "TORRENTISH_LSD", _flag, {"get": "lsd", "seed": "lsd", "share": "lsd", "daemon": "lsd"},
        "find peers on the LAN (Local Service Discovery)"),
    Key("dht", "TORRENTISH_DHT", _flag, {"get": "dht", "seed": "dht", "info": "dht", "daemon": "dht"},
        "use the DHT (for `get`: default on for magnet links only)"),
    Key("port_mapping", "TORRENTISH_PORT_MAPPING", _flag,
        {"get": "port_mapping", "seed": "port_mapping", "share": "port_mapping"},
        "ask the NAT gateway to forward the listen port (UPnP, NAT-PMP, PCP)"),
    Key("port_mapping_protocols", "TORRENTISH_PORT_MAPPING_PROTOCOLS", _protocols,
        {"get": "port_mapping_protocols", "seed": "port_mapping_protocols", "share": "port_mapping_protocols"},
        "port mapping protocols to try, in order: pcp, natpmp, upnp"),
    Key("encryption", "TORRENTISH_ENCRYPTION", _encryption,
        {"get": "encryption", "seed": "encryption", "share": "encryption"},
        "Message Stream Encryption: prefer, require or off"),
    Key("transport", "TORRENTISH_TRANSPORT", _transport,
        {"get": "transport", "seed": "transport", "share": "transport", "daemon": "transport"},
        "peer transports: both (uTP first, then TCP), utp or tcp"),
    Key("remote_url", "TORRENTISH_REMOTE_URL", _url, {"remote": "url"},
        "the daemon `torrentish remote` talks to"),
    Key("remote_auth", "TORRENTISH_REMOTE_AUTH", _credentials, {"remote": "auth"},
        "USER:PASSWORD for that daemon's RPC"),
)


@dataclass(frozen=True)
class Setting:
    key: Key
    value: Any
    source: str  # "TORRENTISH_PORT" or the config file's path


@dataclass
class Config:
    path: Path
    file_found: bool = False
    settings: dict[str, Setting] = field(default_factory=dict)

    def default_map(self) -> dict[str, dict[str, Any]]:
        """{command: {parameter: default}} for click."""
        defaults: dict[str, dict[str, Any]] = {}
        for setting in self.settings.values():
            for command, param in setting.key.params.items():
                defaults.setdefault(command, {})[param] = setting.value
        return defaults


def _read_file(path: Path) -> dict[str, Any] | None:
    import tomllib

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror or error}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: {error}") from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and the TORRENTISH_* variables; raise ConfigError if bad."""
    path = path or config_path()
    environ = os.environ if environ is None else environ
    config = Config(path)
    by_name = {key.name: key for key in KEYS}
    table = _read_file(path)
    if table is not None:
        config.file_found = True
        for name, raw in table.items():
            key = by_name.get(name.replace("-", "_"))
            if key is None:
                known = ", ".join(by_name)
                raise ConfigError(f"config file {path}: unknown key {name!r} (known keys: {known})")
            config.settings[key.name] = Setting(key, _parse(key, raw, f"config file {path}: {name}"), str(path))
    for key in KEYS:
        raw = environ.get(key.env)
        if raw is not None and raw.strip() != "":
            config.settings[key.name] = Setting(key, _parse(key, raw, key.env), key.env)
    return config


def _parse(key: Key, raw: Any, where: str) -> Any:
    try:
        return key.parse(raw)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
