"""Transfers without a .torrent or a tracker: magnet links, ut_metadata, PEX and the DHT.

The functions behind ``torrentish get MAGNET``, ``info MAGNET --fetch`` and the trackerless
extras of ``get``/``seed``:

    result = await get_magnet(parse_magnet(link), Path("downloads"), dht=dht_config(True))

``get_magnet`` runs one DHT node (if ``dht`` is given) for its whole life: first to find peers for
the metadata (with the link's ``x.pe`` peers, LSD and any other peer sources), then, once the info
dictionary is verified, as the transfer's announce service. BEP 53 ``so=`` selects files.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import trio

from torrentish.services.dht.config import DEFAULT_BOOTSTRAP, DhtConfig, ipv6_available
from torrentish.services.dht.node import DhtNode, open_dht_node
from torrentish.services.dht.service import DhtService, dht_peer_source
from torrentish.services.dht.state import default_state_path
from torrentish.engine.client import open_client
from torrentish.services.extensions.metadata_fetch import FetchedMetadata, PeerSource, fetch_metadata
from torrentish.engine.settings import Settings
from torrentish.errors import StorageError, TorrentishError
from torrentish.services.extensions import standard_extensions
from torrentish.formats.magnet import Magnet, check_fetched_info
from torrentish.formats.metainfo import Info, Metainfo, build_torrent, parse_torrent

LOGGER = logging.getLogger("torrentish.get")

__all__ = [
    "get_function",
    "fetch_metainfo_sync",
    "dht_config",
    "trackerless_services",
    "fetch_magnet",
    "lsd_peer_source",
    "fetch_metainfo",
    "get_magnet",
    "magnet_metainfo",
    "write_torrent",
    "selected_paths",
]

Address = tuple[str, int]


def dht_config(enabled: bool, bootstrap: Sequence[str] = (), *, port: int = 0,
               state_path: Path | None | bool = True) -> DhtConfig | None:
    """The DHT settings for a command: None when disabled; the public routers unless ``bootstrap``
    names others; the routing table kept in the state dir (``state_path=True``)."""
    if not enabled:
        return None
    return DhtConfig(
        port=port,
        host6="::" if ipv6_available() else None,
        bootstrap=tuple(bootstrap) or DEFAULT_BOOTSTRAP,
        state_path=default_state_path() if state_path is True else (state_path or None),
    )


def trackerless_services(dht: DhtConfig | DhtNode | None) -> tuple[list, list]:
    """(extensions, services) for transfer.get/seed: ut_metadata, ut_pex and, given a config or a
    running node, the DHT announce service."""
    extensions, services = standard_extensions()
    if isinstance(dht, DhtNode):
        services.append(DhtService(dht))
    elif dht is not None:
        services.append(DhtService(config=dht))
    return extensions, services


@asynccontextmanager
async def _dht_node(config: DhtConfig | None) -> AsyncIterator[DhtNode | None]:
    if config is None:
        yield None
        return
    async with open_dht_node(config) as node:
        yield node


async def _unless_stopped(stop: trio.Event | None, function: Callable, *args, **kwargs):
    """``await function(...)``, or None if ``stop`` is set first."""
    result = None
    async with trio.open_nursery() as nursery:
        if stop is not None:
            async def watch() -> None:
                await stop.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
        result = await function(*args, **kwargs)
        nursery.cancel_scope.cancel()
    return result


class _Seeker:
    """Stands in for the torrent we do not have yet, where a discovery service expects one."""

    def __init__(self, info_hash: bytes, found: Callable):
        self.info_hash = info_hash
        self.add_peers = found


def lsd_peer_source(client, *, host: str | None = None, interfaces=None, port: int | None = None) -> PeerSource:
    """Local Service Discovery (BEP 14, discovery/lsd.py) as a peer source for the metadata: we
    announce the info hash on the LAN and take every peer that announces it."""
    from torrentish.services.discovery.interfaces import interfaces_for
    from torrentish.services.discovery.lsd import LocalDiscovery
    from torrentish.services.discovery.lsd_protocol import LSD_PORT

    async def source(info_hash: bytes, found: Callable) -> None:
        chosen = interfaces if interfaces is not None else interfaces_for(host)
        discovery = LocalDiscovery(client, chosen, port=LSD_PORT if port is None else port)
        async with trio.open_nursery() as nursery:
            await nursery.start(discovery.run)
            discovery.add(_Seeker(info_hash, found))

    return source


async def fetch_magnet(magnet: Magnet, *, node: DhtNode | None = None, peers: Sequence[Address] = (),
                       peer_sources: Sequence[PeerSource] = (), client_sources: Sequence[Callable] = (),
                       timeout: float | None = None, port: int = 0, host: str = "0.0.0.0",
                       settings: Settings | None = None, rng: random.Random | None = None,
                       stop: trio.Event | None = None) -> FetchedMetadata | None:
    """The verified metadata of a magnet link (None if ``stop`` was set first).

    ``client_sources`` are peer sources that need the client we fetch with (LSD announces its
    port): each is called with it, e.g. ``partial(lsd_peer_source, host=...)``.
    """
    sources = [*peer_sources, *([dht_peer_source(node)] if node is not None else [])]
    async with open_client(port=port, host=host, settings=settings, rng=rng) as client:
        sources += [make(client) for make in client_sources]
        return await _unless_stopped(stop, fetch_metadata, magnet.info_hash, client=client,
                                     peers=[*magnet.peers, *peers], peer_sources=sources, timeout=timeout)


def magnet_metainfo(info: Info, magnet: Magnet) -> Metainfo:
    """A whole torrent: the fetched info with the link's trackers and web seeds."""
    check_fetched_info(magnet, info)
    return parse_torrent(build_torrent(info.raw, announce_list=[[t] for t in magnet.trackers],
                                       url_list=magnet.web_seeds, piece_layers=info.piece_layers))


async def fetch_metainfo(magnet: Magnet, *, dht: DhtConfig | None, timeout: float | None = None,
                         **options) -> Metainfo:
    """For ``info MAGNET --fetch``: the torrent a link names, without downloading its data."""
    async with _dht_node(dht) as node:
        fetched = await fetch_magnet(magnet, node=node, timeout=timeout, **options)
    assert fetched is not None  # no stop event given
    return magnet_metainfo(fetched.info, magnet)


def write_torrent(path: Path, info: Info, magnet: Magnet) -> None:
    """Save what a magnet link resolved to as a .torrent file (``--save-torrent``)."""
    try:
        Path(path).write_bytes(build_torrent(info.raw, announce_list=[[t] for t in magnet.trackers],
                                             url_list=magnet.web_seeds, piece_layers=info.piece_layers))
    except OSError as error:
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None


def selected_paths(info: Info, indices: Sequence[int] | None) -> list[str]:
    """BEP 53 ``so=`` file indices (padding files count, as in the info dictionary) as the file
    paths transfer.get's ``only`` takes. Indices past the last file are ignored."""
    if indices is None:
        return []
    paths = ["/".join(info.files[i].path) for i in indices if i < len(info.files) and not info.files[i].padding]
    if not paths:
        raise TorrentishError(f"so= selects none of the {len(info.files)} files of {info.name!r}")
    return paths


async def get_magnet(
    magnet: Magnet,
    out_dir: Path,
    *,
    dht: DhtConfig | None,
    save_torrent: Path | None = None,
    peers: Sequence[Address] = (),
    peer_sources: Sequence[PeerSource] = (),
    client_sources: Sequence[Callable] = (),
    metadata_timeout: float | None = None,
    on_metadata: Callable[[Info], None] | None = None,
    only: Sequence[str] = (),
    services: Sequence = (),
    services_for: Callable[[Metainfo], Sequence] | None = None,
    extensions: Sequence = (),
    port: int = 0,
    host: str = "0.0.0.0",
    settings: Settings | None = None,
    rng: random.Random | None = None,
    stop: trio.Event | None = None,
    **get_options,
):
    """Fetch a magnet link's metadata, then download as ``transfer.get`` does; returns its result.

    ``services_for(metainfo)`` adds services that need the metadata (trackers, LSD). Stopped
    before the metadata arrived, the result is an empty, incomplete TransferResult.
    """
    from torrentish.app.transfer import TransferResult, get

    started = trio.current_time()
    async with _dht_node(dht) as node:
        fetched = await fetch_magnet(magnet, node=node, peers=peers, peer_sources=peer_sources,
                                     client_sources=client_sources, timeout=metadata_timeout, port=port,
                                     host=host, settings=settings, rng=rng, stop=stop)
        if fetched is None:
            name = magnet.display_name or magnet.info_hash.hex()
            return TransferResult(name, magnet.exact_length or 0, 0, 0, trio.current_time() - started, False, 0)
        info = fetched.info
        if on_metadata is not None:
            on_metadata(info)
        if save_torrent is not None:
            write_torrent(save_torrent, info, magnet)
        chosen = [*only, *selected_paths(info, magnet.select_only)]
        extra_extensions, extra_services = trackerless_services(node)
        if services_for is not None:
            extra_services = [*services_for(magnet_metainfo(info, magnet)), *extra_services]
        return await get(info, out_dir, peers=fetched.peers, only=chosen, port=port, host=host,
                         settings=settings, rng=rng, stop=stop,
                         extensions=[*extra_extensions, *extensions], services=[*extra_services, *services],
                         **get_options)


# -- for the command line ---------------------------------------------------------------------------


def get_function(text: str, *, dht: bool | None = None, dht_bootstrap: Sequence[str] = (),
                 save_torrent: Path | None = None, port: int = 0, lsd: bool = True,
                 services: Sequence = ()) -> tuple[Callable, dict]:
    """What ``torrentish get TEXT`` runs: (an async function taking transfer.get's options, the
    arguments that depend on the source).

    A .torrent, or a magnet link whose ``xs=`` source serves the .torrent, goes through
    discovery.sources (trackers, LSD, x.pe, web seeds) and transfer.get; any other magnet link,
    and one whose ``xs=`` sources all fail, fetches its metadata from peers first (get_magnet). ut_metadata and PEX are always on; the DHT by default
    for magnet links only; LSD unless ``lsd`` is False. ``services`` (port mapping) run beside the
    transfer itself, first.
    """
    from torrentish.services.discovery.sources import exact_sources, load_source, peer_sources_for
    from torrentish.formats.magnet import parse_magnet
    from torrentish.app.transfer import get

    is_magnet = text.lower().startswith("magnet:")
    config = dht_config(is_magnet if dht is None else dht, dht_bootstrap, port=port)
    loaded = None
    if is_magnet:
        magnet = parse_magnet(text)
        if exact_sources(text):
            try:
                loaded = load_source(text)
            except TorrentishError as problem:
                # Any one source of the link is enough: the x.pe peers (or the DHT, LSD) have
                # the metadata too (BEP 9), e.g. when a firewall closes the xs= server's port.
                LOGGER.warning("%s; taking the metadata from peers instead", problem)
        if loaded is None:
            return get_magnet, {"magnet": magnet, "dht": config, "save_torrent": save_torrent,
                                "client_sources": [lsd_peer_source] if lsd else [],  # with x.pe and the DHT
                                "services_for": lambda meta: peer_sources_for(meta, magnet, lsd=lsd),
                                "services": list(services)}
    meta, magnet = loaded or load_source(text)
    if save_torrent is not None:
        if magnet is None:
            raise TorrentishError("--save-torrent is for magnet links: this is a .torrent file already")
        write_torrent(save_torrent, meta.info, magnet)
    extensions, extra = trackerless_services(config)
    function = get
    if magnet is not None and magnet.select_only is not None:
        function = _selecting(get, selected_paths(meta.info, magnet.select_only))
    return function, {"info": meta.info, "extensions": extensions,
                      "services": [*services, *peer_sources_for(meta, magnet, lsd=lsd), *extra]}


def _selecting(function: Callable, paths: Sequence[str]) -> Callable:
    """``function`` with the link's ``so=`` files added to whatever ``only`` the caller passes."""

    async def run(*, only: Sequence[str] = (), **options):
        return await function(only=[*only, *paths], **options)

    return run


def fetch_metainfo_sync(magnet: Magnet, *, peers: Sequence[Address] = (), dht: bool = True,
                        dht_bootstrap: Sequence[str] = (), timeout: float | None = 60.0) -> Metainfo:
    """``info MAGNET --fetch``: runs trio until the metadata arrives (or ``timeout`` passes)."""
    return trio.run(partial(fetch_metainfo, magnet, dht=dht_config(dht, dht_bootstrap), peers=peers,
                            timeout=timeout))
