"""The addresses a torrent may dial, and dialing them with backoff.

Addresses come from --peer, trackers, LSD, the DHT and PEX; each has its retry state. A peer we
must not dial again (ourselves, banned, a seed while we are one) is retired, not forgotten, so
sources that keep naming it do not bring it back - until the list is full, when new addresses
replace the peers that failed most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from torrentish import events as ev
from torrentish.errors import ProtocolError

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


@dataclass
class KnownPeer:
    """An address we may dial, with its retry state."""

    address: tuple[str, int]
    failures: int = 0
    next_attempt: float = 0.0
    connecting: bool = False
    connected: bool = False
    retired: bool = False  # ourselves, banned, or a seed while we are one
    refuses_encryption: bool = False  # it took plaintext after refusing MSE: dial it so first


# A retired peer (ourselves, a banned one, a seed while we seed) is forgotten before one that
# merely failed a few times: it would never be dialed again anyway.
RETIRED_SCORE = 1000


class Connector:
    def __init__(self, torrent: Torrent):
        self.torrent = torrent
        self.known: dict[tuple[str, int], KnownPeer] = {}

    def add(self, addresses) -> bool:
        """Remember addresses (bounded); True if any was new.

        When the list is full, a new address takes the place of the one that failed most
        (a departed peer, or one we retired): under churn the list would otherwise fill with
        peers long gone while trackers and PEX name live ones we could not take.
        """
        limit = 4 * self.torrent.settings.max_peers_per_torrent
        added = False
        for host, port in addresses:
            address = (host, int(port))
            if address in self.known:
                continue
            if len(self.known) >= limit and not self._forget_worst():
                continue
            self.known[address] = KnownPeer(address)
            added = True
        return added

    def _forget_worst(self) -> bool:
        """Drop the known peer least worth dialing; False if every one is still worth it."""
        worst, worst_score = None, 0
        for known in self.known.values():
            if known.connecting or known.connected:
                continue
            score = known.failures + (RETIRED_SCORE if known.retired else 0)
            if score > worst_score:
                worst, worst_score = known, score
        if worst is None:
            return False
        del self.known[worst.address]
        return True

    def retire(self, address: tuple[str, int]) -> None:
        known = self.known.get(address)
        if known is not None:
            known.retired = True

    def failed(self, known: KnownPeer) -> None:
        """The attempt or the connection ended: back off before the next one."""
        known.failures += 1
        first, cap = self.torrent.settings.reconnect_backoff
        # Jittered, so two peers that dial each other at once (and each drop one of the two
        # connections as a duplicate) do not collide again on every retry.
        delay = min(cap, first * 2 ** (known.failures - 1)) * (0.5 + self.torrent.rng.random())
        known.next_attempt = trio.current_time() + delay

    def dialing(self) -> bool:
        return any(k.connecting for k in self.known.values())

    def next_attempt(self) -> float:
        """When the next known peer may be dialed (inf: none may)."""
        return min((k.next_attempt for k in self.known.values()
                    if not (k.connecting or k.connected or k.retired)), default=math.inf)

    def connect_more(self, now: float, nursery: trio.Nursery) -> None:
        """Dial known peers that are due, while the torrent has room for more connections."""
        torrent = self.torrent
        busy = len(torrent.peers) + sum(1 for k in self.known.values() if k.connecting)
        room = torrent.settings.max_peers_per_torrent - busy
        for known in self.known.values():
            if room <= 0:
                break
            if known.connecting or known.connected or known.retired or now < known.next_attempt:
                continue
            known.next_attempt = now + torrent.settings.reconnect_backoff[1]
            nursery.start_soon(self._dial, known)
            room -= 1

    async def _dial(self, known: KnownPeer) -> None:
        from torrentish.engine.handshake import HandshakeError

        torrent = self.torrent
        known.connecting = True
        try:
            try:
                dialed = await torrent.client.dial(known.address, torrent.info_hash,
                                                   plaintext_first=known.refuses_encryption)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError,
                    HandshakeError, ProtocolError) as exc:
                self.failed(known)
                now = trio.current_time()
                torrent.events.publish(ev.ConnectFailed(now, known.address, str(exc) or type(exc).__name__))
                for extension in torrent.extensions.values():
                    on_failed = getattr(extension, "on_connect_failed", None)  # optional hook
                    if on_failed is not None:
                        on_failed(torrent, known.address, now)
                return
            known.refuses_encryption = known.refuses_encryption or dialed.fell_back
            await torrent.serve_peer(dialed.stream, dialed.codec, dialed.handshake, known.address,
                                     True, dialed.leftover, known, dialed.encryption)
        finally:
            known.connecting = False
            torrent.poke()  # the upkeep may be asleep: the next attempt's time changed
