"""Where torrentish keeps its own state (resume data, peer id, DHT table) and its config file.

Both follow the XDG base directory spec, and both can be moved with an environment variable
(tests and portable installs use that).
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """TORRENTISH_STATE_DIR, else $XDG_STATE_HOME/torrentish, else ~/.local/state/torrentish."""
    explicit = os.environ.get("TORRENTISH_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "torrentish"


def resume_path(info_hash: bytes) -> Path:
    return state_dir() / "resume" / f"{info_hash.hex()}.resume"


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/torrentish, else ~/.config/torrentish."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "torrentish"


def config_path() -> Path:
    """TORRENTISH_CONFIG (a file), else config.toml in `config_dir()`."""
    explicit = os.environ.get("TORRENTISH_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return config_dir() / "config.toml"
