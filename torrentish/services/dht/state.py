"""The DHT node's saved state: its id and the good contacts of its routing tables.

Kept in ``<state dir>/dht.state`` (bencoded: ``id``, ``nodes``, ``nodes6`` in compact form) so a
restarted node keeps its place in the id space and rejoins through contacts it already knows
instead of the bootstrap routers. A missing or damaged file means a fresh start, never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torrentish.formats import bencoding
from torrentish.services.dht.krpc import NodeInfo, decode_nodes, encode_nodes
from torrentish.errors import BencodeError
from torrentish.paths import state_dir

MAX_SAVED_NODES = 400  # per address family: enough to rejoin, small enough to read at once
_STATE_LIMITS = bencoding.Limits(max_size=64 * 1024, max_depth=2, max_items=16, max_int_digits=20)


def default_state_path() -> Path:
    return state_dir() / "dht.state"


@dataclass(frozen=True)
class SavedState:
    node_id: bytes | None
    nodes: tuple[NodeInfo, ...]


def load_state(path: Path | None) -> SavedState:
    if path is None:
        return SavedState(None, ())
    try:
        with open(path, "rb") as f:
            data = f.read(_STATE_LIMITS.max_size + 1)
        value = bencoding.decode(data, _STATE_LIMITS)
    except (OSError, BencodeError):
        return SavedState(None, ())
    if not isinstance(value, dict):
        return SavedState(None, ())
    node_id = value.get(b"id")
    nodes: list[NodeInfo] = []
    for key, v6 in ((b"nodes", False), (b"nodes6", True)):
        raw = value.get(key)
        if isinstance(raw, bytes):
            try:
                nodes.extend(decode_nodes(raw, v6)[:MAX_SAVED_NODES])
            except ValueError:
                pass
    return SavedState(node_id if isinstance(node_id, bytes) and len(node_id) == 20 else None, tuple(nodes))


def save_state(path: Path, node_id: bytes, nodes: list[NodeInfo]) -> None:
    """Write atomically (temporary file, then rename), so a crash leaves the old state."""
    v4 = [n for n in nodes if ":" not in n.host][:MAX_SAVED_NODES]
    v6 = [n for n in nodes if ":" in n.host][:MAX_SAVED_NODES]
    data = bencoding.encode({"id": node_id, "nodes": encode_nodes(v4), "nodes6": encode_nodes(v6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
