"""Where torrentish keeps its own state (resume data, peer id, DHT table) and config."""

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
