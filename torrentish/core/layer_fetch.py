"""Getting a v2 torrent's piece layers from a peer (BEP 52 hash requests), checked hash by hash.

Metadata from a magnet link has each file's ``pieces root`` but not its piece layer, and without
the layer no piece of a file larger than one piece can be checked. ``LayerFetch`` says which hash
requests to send (the piece layer of each such file, up to 512 hashes a request, with the proof
layers that reach the root) and takes the answers: a HASHES message is kept only if its hashes
and uncles hash up to the file's pieces root (merkle.verify_proof), so a lying peer can never
plant a wrong hash; the answers come back in any order. Pure: the fields of the wire messages in,
(root, base layer, index, length, proof layers) requests out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torrentish.formats import merkle

if TYPE_CHECKING:
    from torrentish.formats.metainfo import Info

__all__ = ["LayerFetch", "MAX_REQUEST_HASHES"]

MAX_REQUEST_HASHES = 512  # BEP 52: a request "SHOULD NOT" ask for more

Request = tuple[bytes, int, int, int, int]


class LayerFetch:
    def __init__(self, info: Info) -> None:
        self._layer = merkle.layer_for_piece_length(info.piece_length)
        # root -> (pieces in the file, width of its piece layer in the balanced tree)
        self._files: dict[bytes, tuple[int, int]] = {}
        for f in info.files:
            if f.padding or f.pieces_root is None or f.length <= info.piece_length:
                continue
            if f.pieces_root in info.piece_layers:
                continue
            width = merkle.next_power_of_two(merkle.blocks_in(f.length)) >> self._layer
            self._files[f.pieces_root] = (-(-f.length // info.piece_length), width)
        self._got: dict[bytes, dict[int, list[bytes]]] = {root: {} for root in self._files}
        self._outstanding: set[Request] = set()

    @property
    def complete(self) -> bool:
        return not self._outstanding and all(self._have_all(root) for root in self._files)

    def _have_all(self, root: bytes) -> bool:
        count, width = self._files[root]
        length = min(MAX_REQUEST_HASHES, width)
        return all(index in self._got[root] for index in range(0, count, length))

    def requests(self) -> list[Request]:
        """Every request not yet answered (each once; call again after a reconnect)."""
        out = []
        for root, (count, width) in self._files.items():
            length = min(MAX_REQUEST_HASHES, width)
            proof_layers = width.bit_length() - 2  # log2(width) - 1: the uncles up to the root
            for index in range(0, count, length):
                request = (root, self._layer, index, length, max(0, proof_layers))
                if index not in self._got[root] and request not in self._outstanding:
                    self._outstanding.add(request)
                    out.append(request)
        return out

    def receive(self, root: bytes, base_layer: int, index: int, length: int, proof_layers: int,
                hashes: tuple[bytes, ...]) -> bool:
        """Take a HASHES message: False if it answers nothing we asked or does not prove out."""
        request = (root, base_layer, index, length, proof_layers)
        if request not in self._outstanding:
            return False
        self._outstanding.discard(request)
        base, uncles = list(hashes[:length]), hashes[length:]
        if len(base) != length or not merkle.verify_proof(root, base, base_layer, index, uncles):
            return False
        self._got[root][index] = base
        return True

    def rejected(self, root: bytes, base_layer: int, index: int, length: int, proof_layers: int) -> None:
        """A HASH REJECT: the request may be sent again (to another peer)."""
        self._outstanding.discard((root, base_layer, index, length, proof_layers))

    def layers(self) -> dict[bytes, bytes]:
        """The piece layers fetched: each file's piece hashes, without the balancing pad hashes."""
        out = {}
        for root, (count, _) in self._files.items():
            hashes = [h for index in sorted(self._got[root]) for h in self._got[root][index]]
            out[root] = b"".join(hashes[:count])
        return out
