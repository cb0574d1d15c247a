"""The services a session shares among its torrents: trackers, LSD, the DHT, PEX, port mapping.

One HTTP/UDP tracker transport, one Local Service Discovery socket set and one DHT node serve
every torrent (a torrent's own announce loop, DHT announces and PEX timer run in that torrent's
nursery, so they stop with it). For a magnet link they are also where the metadata's peers come
from. Each is optional (SessionConfig's lsd, dht, pex); private torrents (BEP 27) get trackers
only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import SimpleNamespace

import trio

from torrentish.services.dht.config import DEFAULT_BOOTSTRAP, DhtConfig, ipv6_available
from torrentish import events as ev
from torrentish.services.extensions.ut_holepunch import UtHolepunch
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex
from torrentish.services.tracker.announcer import AnnounceSettings, Announcer, TrackerTiers, open_transport

Address = tuple[str, int]
DHT_SEED_LOOKUPS = 4  # seeds' DHT announces at once, over all torrents (downloads never wait)


class TorrentServices:
    """What serves one running torrent: its announcer (for reannounce and tracker stats)."""

    def __init__(self) -> None:
        self.announcer: Announcer | None = None

    def reannounce(self) -> None:
        if self.announcer is not None:
            self.announcer.reannounce()


class SessionServices:
    def __init__(self, client, *, lsd: bool, dht: bool, pex: bool, trackers: bool = True,
                 host: str = "0.0.0.0", dht_bootstrap: Sequence[str] = (), dht_state: Path | None = None,
                 announce_settings: AnnounceSettings | None = None, port_mapping=None,
                 rng: random.Random) -> None:
        self.client = client
        self.use_lsd, self.use_dht, self.pex, self.use_trackers = lsd, dht, pex, trackers
        self.host = host
        self.dht_bootstrap = tuple(dht_bootstrap)
        self.dht_state = dht_state
        self.announce_settings = announce_settings or AnnounceSettings()
        self.rng = rng
        self.transport = None
        self.lsd = None
        self.dht = None
        self.port_mapping = port_mapping
        self.ut_pex = UtPex() if pex else None
        self.dht_seed_lookups = trio.CapacityLimiter(DHT_SEED_LOOKUPS)
        self.ut_holepunch = UtHolepunch()
        self._pex_torrents: set = set()  # running torrents that use our ut_pex

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Open the shared parts, report ready, and keep them until cancelled. A part that cannot
        start (a busy UDP port) is reported as a Warning; the others run."""
        async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
            if self.port_mapping is not None:  # first, so the first announces carry the mapped port
                from torrentish.services.portmap.service import port_mapping_service

                # A transfer service of the listener, not of a torrent: its "torrent" is the bus.
                nursery.start_soon(port_mapping_service(self.port_mapping), self.client,
                                   SimpleNamespace(events=self.client.events))
            if self.use_trackers:
                rng = random.Random(self.rng.getrandbits(64))
                self.transport = await stack.enter_async_context(open_transport(rng, self.announce_settings))
            if self.use_lsd:
                from torrentish.services.discovery.interfaces import interfaces_for
                from torrentish.services.discovery.lsd import LocalDiscovery

                host = None if self.host in ("", "0.0.0.0", "::") else self.host
                self.lsd = LocalDiscovery(self.client, interfaces_for(host))
                await nursery.start(self.lsd.run)
            if self.use_dht:
                self.dht = await self._open_dht(stack)
            if self.ut_pex is not None:
                nursery.start_soon(self._send_pex)
            task_status.started()
            await trio.sleep_forever()

    async def _send_pex(self) -> None:
        """PEX messages for every torrent from one timer (not a task per torrent: a session may
        seed a thousand)."""
        pex = self.ut_pex
        while True:
            await trio.sleep(pex.tick)
            now = trio.current_time()
            for torrent in list(self._pex_torrents):
                if torrent.peers:
                    pex.send_due(torrent, now)

    async def _open_dht(self, stack: AsyncExitStack):
        from torrentish.services.dht.node import open_dht_node, shared_dht_channel

        config = DhtConfig(
            port=self.client.port,  # the peer port, as other clients do
            host6="::" if ipv6_available() else None,
            bootstrap=self.dht_bootstrap or DEFAULT_BOOTSTRAP,
            state_path=self.dht_state,
        )
        shared = shared_dht_channel(self.client.network)  # the peer port's UDP socket, beside uTP
        if shared is not None:
            return await stack.enter_async_context(open_dht_node(config, shared=shared))
        for port in (config.port, 0):
            config.port = port
            try:
                return await stack.enter_async_context(open_dht_node(config))
            except OSError as exc:
                problem = exc.strerror or str(exc)
        self.client.events.publish(ev.Warning(trio.current_time(), f"the DHT is off: {problem}"))
        return None

    # ------------------------------------------------------------------------------ torrents
    def extensions(self, others: Sequence = ()) -> list:
        """The extensions of a new torrent: ut_metadata and ut_holepunch always, ut_pex if enabled
        (one instance for all: its state is per connection, and `serve` sends its messages), then `others`
        (the owner's); of two with one name, the owner's is kept."""
        ours = [UtMetadata(), *([self.ut_pex] if self.ut_pex is not None else []), self.ut_holepunch]
        taken = {e.name for e in others}
        return [*(e for e in ours if e.name not in taken), *others]

    async def serve(self, torrent, tiers: Sequence[Sequence[str]], handle: TorrentServices) -> None:
        """Serve one running torrent until cancelled: announce it to its trackers, on the DHT and
        the LAN. Runs in the torrent's nursery."""
        async with trio.open_nursery() as nursery:
            ordered = TrackerTiers(tiers, random.Random(self.rng.getrandbits(64)))
            if ordered and self.transport is not None:
                handle.announcer = Announcer(ordered, self.client, torrent, self.transport, self.announce_settings)
                nursery.start_soon(handle.announcer.run)
            if self.ut_pex is not None and self.ut_pex in torrent.extensions.values():
                self._pex_torrents.add(torrent)
            if self.ut_holepunch in torrent.extensions.values():
                nursery.start_soon(self.ut_holepunch.run, self.client, torrent)
            if not torrent.info.private:
                if self.dht is not None:
                    from torrentish.services.dht.service import DhtService

                    nursery.start_soon(DhtService(self.dht, seed_lookups=self.dht_seed_lookups), self.client, torrent)
                if self.lsd is not None:
                    self.lsd.add(torrent)
            try:
                await trio.sleep_forever()
            finally:
                self._pex_torrents.discard(torrent)
                if self.lsd is not None:
                    self.lsd.remove(torrent)

    def metadata_sources(self, info_hash: bytes, trackers: Sequence[str], private_hint: bool = False) -> list:
        """Peer sources (engine/metadata.py) for fetching a magnet link's metadata."""
        sources = []
        if self.dht is not None:
            from torrentish.services.dht.service import dht_peer_source

            sources.append(dht_peer_source(self.dht))
        if self.lsd is not None:
            sources.append(self._lsd_source)
        if trackers and self.transport is not None:
            sources.append(self._tracker_source(trackers))
        return sources

    async def _lsd_source(self, info_hash: bytes, found: Callable[[Iterable[Address]], None]) -> None:
        seeker = SimpleNamespace(info_hash=info_hash, add_peers=found)
        self.lsd.add(seeker)
        try:
            await trio.sleep_forever()
        finally:
            self.lsd.remove(seeker)

    def _tracker_source(self, trackers: Sequence[str]):
        async def source(info_hash: bytes, found: Callable[[Iterable[Address]], None]) -> None:
            ordered = TrackerTiers([list(trackers)], random.Random(self.rng.getrandbits(64)))
            if not ordered:
                return
            seeker = _MetadataSeeker(info_hash, found, self.client.events)
            await Announcer(ordered, self.client, seeker, self.transport, self.announce_settings).run()

        return source


class _MetadataSeeker:
    """Stands in for a torrent whose metadata we lack, where an Announcer expects one."""

    def __init__(self, info_hash: bytes, found: Callable, events) -> None:
        self.info = SimpleNamespace(info_hash=info_hash, total_length=0)
        self.info_hash = info_hash
        self.uploaded = self.downloaded = self.done_bytes = 0
        self.completed = trio.Event()
        self.events = events
        self.add_peers = found
