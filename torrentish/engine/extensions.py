"""How BEP 10 extensions (ut_metadata, ut_pex, ...) plug into a torrent.

An extension is an object with a `name` (the key in the extended handshake's `m`) and four
hooks, all synchronous and called from the peer's reader task:

- `handshake_fields(torrent) -> dict`: extra keys for our extended handshake (e.g. metadata_size);
- `on_handshake(torrent, peer, handshake)`: the peer's extended handshake arrived;
- `on_message(torrent, peer, payload)`: a message for this extension arrived;
- `on_peer_closed(torrent, peer)`: the connection ended;
- optionally `on_connect_failed(torrent, address, now)`: dialing a known address failed (BEP 55
  asks a connected peer to introduce us then).

The torrent gives each registered extension a local id (1, 2, ... in registration order) and
sends with `torrent.send_extended(peer, name, payload)`, which uses the id the peer chose.
A ProtocolError raised by a hook closes that one connection.
"""

from __future__ import annotations

from typing import Any, Protocol


class Extension(Protocol):
    name: str

    def handshake_fields(self, torrent: Any) -> dict: ...

    def on_handshake(self, torrent: Any, peer: Any, handshake: Any) -> None: ...

    def on_message(self, torrent: Any, peer: Any, payload: bytes) -> None: ...

    def on_peer_closed(self, torrent: Any, peer: Any) -> None: ...
