"""The client: one peer id, one listener, many torrents.

    async with open_client(port=6881) as client:
        torrent = await client.add_torrent(info, storage, peers=[("10.0.0.2", 6881)])
        await torrent.completed.wait()

Everything the client starts lives in its nursery; leaving the block stops the torrents (which
save their resume state) and the listener.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from torrentish import __version__
from torrentish.core.rates import TokenBucket, set_limits
from torrentish.engine.dialing import Dialed, dial
from torrentish.engine.encryption import accept_incoming, check_policy, describe
from torrentish.engine.handshake import HandshakeError, answer_handshake, incoming_handshake
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.errors import ProtocolError
from torrentish.events import EventBus
from torrentish.formats.metainfo import Info
from torrentish.net.base import Network
from torrentish.storage.base import Storage
from torrentish.wire.mse import skey_hash
from torrentish.wire.peer_id import make_peer_id


class Client:
    def __init__(
        self,
        nursery: trio.Nursery,
        network: Network,
        settings: Settings,
        rng: random.Random,
        peer_id: bytes,
        key_rng: random.Random | None = None,
        encryption: str = "prefer",
    ):
        self._nursery = nursery
        self.network = network
        self.settings = settings
        self.rng = rng
        # MSE keys and pads. Pads go out in the clear, so by default they do not come from a
        # generator whose state they would reveal; tests and simulations inject a seeded one.
        self.key_rng = key_rng or random.SystemRandom()
        self.encryption = encryption  # the policy in force (engine/encryption.py check_policy)
        self.peer_id = peer_id
        self.version = __version__
        self.port = 0
        # Where peers outside a NAT reach us, when a port mapping service has mapped our port.
        self.external_address: str | None = None
        self.external_port: int | None = None
        self._announce_port_changed = trio.Event()
        self.torrents: dict[bytes, Torrent] = {}
        self.events = EventBus()
        self.up_bucket = TokenBucket(settings.max_upload_rate, burst=256 * 1024)
        self.down_bucket = TokenBucket(settings.max_download_rate, burst=256 * 1024)

    @property
    def announce_port(self) -> int:
        """The port we tell trackers, the DHT and peers: the NAT gateway's mapped port when we
        have one, else the port we listen on."""
        return self.external_port or self.port

    def set_external(self, address: str | None, port: int | None) -> None:
        """Record the mapping of our listen port on the NAT gateway (None, None: none any more)."""
        before = self.announce_port
        self.external_address, self.external_port = address, port
        if self.announce_port != before:
            self._announce_port_changed.set()
            self._announce_port_changed = trio.Event()

    async def announce_port_changed(self) -> None:
        """Return the next time `announce_port` changes."""
        await self._announce_port_changed.wait()

    def set_rate_limits(self, *, up: float | None = None, down: float | None = None) -> None:
        """Limits in bytes/s shared by all torrents (0: none; None: unchanged), from now on."""
        set_limits(self.up_bucket, self.down_bucket, up, down, trio.current_time())

    async def add_torrent(
        self,
        info: Info,
        storage: Storage,
        *,
        peers=(),
        **options,
    ) -> Torrent:
        """Start a torrent in the client's nursery: checks existing data, then trades with peers.
        Returns once checked. `options` are make_torrent's."""
        torrent = self.make_torrent(info, storage, **options)
        torrent.add_peers(peers)
        await self._nursery.start(self.run_torrent, torrent)
        return torrent

    def make_torrent(
        self,
        info: Info,
        storage: Storage,
        *,
        strategy: str = "rarest",
        wanted_files: set[int] | None = None,
        upload_only: bool = False,
        extensions=(),
    ) -> Torrent:
        """A torrent of this client, not running yet (see run_torrent)."""
        return Torrent(
            info,
            storage,
            client=self,
            settings=self.settings,
            rng=random.Random(self.rng.getrandbits(64)),
            strategy=strategy,
            wanted_files=wanted_files,
            upload_only=upload_only,
            extensions=extensions,
        )

    async def run_torrent(self, torrent: Torrent, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run `torrent` in the caller's task until cancelled (`task_status.started` once its data
        is checked). Incoming connections reach it while it runs. An error in the torrent
        (a full disk, say) ends this call only: whoever runs it decides what that means."""
        # A hybrid (BEP 52) is in two swarms: peers may name it by its v1 hash or its truncated
        # v2 hash, and are answered with the one they named.
        swarms = torrent.info.swarm_hashes
        if any(h in self.torrents for h in swarms):
            raise ValueError("torrent already added")
        for h in swarms:
            self.torrents[h] = torrent
        try:
            await torrent.run(task_status=task_status)
        finally:
            for h in swarms:
                if self.torrents.get(h) is torrent:
                    del self.torrents[h]

    def connection_count(self) -> int:
        unique = {id(t): t for t in self.torrents.values()}  # a hybrid is there twice
        return sum(len(t.peers) for t in unique.values())

    async def dial(self, address: tuple[str, int], info_hash: bytes, *,
                   plaintext_first: bool = False) -> Dialed:
        """Connect to a peer for a torrent and exchange handshakes, encrypted as the policy says."""
        return await dial(self.network, address, info_hash, self.peer_id, policy=self.encryption,
                          rng=self.key_rng, timeout=self.settings.handshake_timeout,
                          plaintext_first=plaintext_first)

    def _find_info_hash(self, wanted: bytes) -> bytes | None:
        """The torrent an incoming MSE connection names by its skey hash."""
        return next((ih for ih in self.torrents if skey_hash(ih) == wanted), None)

    async def handle_incoming(self, stream: trio.abc.Stream, address: tuple[str, int]) -> None:
        """Tell plaintext from MSE, read the handshake, pick the torrent, answer, hand over."""
        try:
            with trio.fail_after(self.settings.handshake_timeout):
                stream, initial, named = await accept_incoming(
                    stream, policy=self.encryption, find_info_hash=self._find_info_hash, rng=self.key_rng
                )
                handshake, codec, leftover = await incoming_handshake(stream, initial)
                if named is not None and handshake.info_hash != named:
                    raise HandshakeError("handshake names another torrent than the encryption did")
                torrent = self.torrents.get(handshake.info_hash)
                if torrent is None or not torrent.can_accept():
                    raise HandshakeError("unknown torrent or no room")
                if self.connection_count() >= self.settings.max_connections:
                    raise HandshakeError("connection limit reached")
                await answer_handshake(stream, handshake.info_hash, self.peer_id)
        except (HandshakeError, ProtocolError, trio.TooSlowError, trio.BrokenResourceError,
                trio.ClosedResourceError, OSError):
            await trio.aclose_forcefully(stream)
            return
        await torrent.accept(stream, codec, handshake, address, leftover, describe(stream, named is not None))


@asynccontextmanager
async def open_client(
    *,
    port: int = 0,
    host: str = "0.0.0.0",
    network: Network | None = None,
    settings: Settings | None = None,
    rng: random.Random | None = None,
    peer_id: bytes | None = None,
    key_rng: random.Random | None = None,
) -> AsyncIterator[Client]:
    if network is None:
        from torrentish.net.tcp import TcpNetwork

        network = TcpNetwork()
    rng = rng or random.Random()
    settings = settings or Settings()
    encryption = check_policy(settings.encryption)  # before the nursery: a plain error, not a group
    async with trio.open_nursery() as nursery:
        client = Client(nursery, network, settings, rng, peer_id or make_peer_id(rng), key_rng, encryption)
        client.port = await nursery.start(network.serve, host, port, client.handle_incoming)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()
