"""Downloading and seeding one torrent: the functions behind `torrentish get` and `seed`.

Usable from Python:

    result = trio.run(partial(get, metainfo, Path("downloads"), peers=[("10.0.0.2", 6881)]))

A `view` (any async callable taking the client and the torrent) runs beside the transfer and is
cancelled when it ends; if it also has a `checking(client, name)` method, that runs while the data
already on disk is checked, before the torrent starts. The engine itself knows nothing of terminals.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import outcome
import trio

from torrentish.engine.client import Client, open_client
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.errors import StorageError, TorrentishError
from torrentish.formats.metainfo import Info
from torrentish.paths import resume_path

View = Callable[[Client, Torrent], Awaitable[None]]
# A service runs beside a transfer (tracker announces, LSD, DHT, ...) and is cancelled with it.
Service = Callable[[Client, Torrent], Awaitable[None]]


@dataclass
class TransferResult:
    name: str
    total: int
    downloaded: int  # payload bytes received this run
    uploaded: int
    elapsed: float
    complete: bool
    peers_seen: int


def _select_files(info: Info, only: Sequence[str]) -> set[int]:
    """Map --only names (a path inside the torrent, with or without the torrent's name) to files."""
    wanted: set[int] = set()
    for name in only:
        parts = tuple(p for p in name.replace("\\", "/").split("/") if p)
        matches = [
            i
            for i, f in enumerate(info.files)
            if not f.padding and (f.path == parts or f.path[1:] == parts or f.path[-len(parts):] == parts)
        ]
        if not matches:
            raise TorrentishError(f"--only {name!r}: no such file in the torrent")
        wanted.update(matches)
    return wanted


def _settings(settings: Settings | None, max_up: int, max_down: int) -> Settings:
    settings = settings or Settings()
    if max_up:
        settings.max_upload_rate = max_up
    if max_down:
        settings.max_download_rate = max_down
    return settings


def _result(torrent: Torrent, start: float, peers_seen: int) -> TransferResult:
    return TransferResult(
        name=torrent.info.name,
        total=torrent.info.total_length,
        downloaded=torrent.downloaded,
        uploaded=torrent.uploaded,
        elapsed=trio.current_time() - start,
        complete=torrent.completed.is_set(),
        peers_seen=peers_seen,
    )


async def _add_torrent(client: Client, view: View | None, name: str, **kwargs) -> Torrent:
    """`client.add_torrent(**kwargs)`, which returns once the data on disk is checked; a view
    with a `checking(client, name)` method shows that check as it goes (hashing a large
    download can take minutes, and the view proper starts only with the torrent)."""
    checking = getattr(view, "checking", None)
    if checking is None:
        return await client.add_torrent(**kwargs)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(checking, client, name)
        # Captured, then raised outside the nursery: the caller sees add_torrent's own error.
        added = await outcome.acapture(partial(client.add_torrent, **kwargs))
        nursery.cancel_scope.cancel()
    return added.unwrap()


async def _run_view(
    view: View | None, services: Sequence[Service], client: Client, torrent: Torrent, nursery: trio.Nursery
) -> None:
    for service in services:
        nursery.start_soon(service, client, torrent)
    if view is not None:
        nursery.start_soon(view, client, torrent)


async def get(
    info: Info,
    out_dir: Path,
    *,
    peers: Sequence[tuple[str, int]] = (),
    port: int = 0,
    host: str = "0.0.0.0",
    seed: bool = False,
    max_up: int = 0,
    max_down: int = 0,
    sequential: bool = False,
    only: Sequence[str] = (),
    settings: Settings | None = None,
    view: View | None = None,
    services: Sequence[Service] = (),
    extensions: Sequence = (),
    stop: trio.Event | None = None,
    resume: Path | None | bool = True,
    rng: random.Random | None = None,
) -> TransferResult:
    """Download into out_dir/<name>; return once complete and verified (with seed=True, keep
    seeding until `stop` is set). Setting `stop` early returns an incomplete result; the
    resume state is saved either way (resume=True: in the state dir; a Path: there; None: not
    kept)."""
    from torrentish.storage.files import FileStorage

    wanted = _select_files(info, only) if only else None
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume is True:
        resume = resume_path(info.info_hash)
    storage = FileStorage(out_dir / info.name, info, writable=True, resume_path=resume or None)
    try:
        start = trio.current_time()
        async with open_client(port=port, host=host, settings=_settings(settings, max_up, max_down), rng=rng) as client:
            torrent = await _add_torrent(
                client,
                view,
                info.name,
                info=info,
                storage=storage,
                peers=peers,
                strategy="sequential" if sequential else "rarest",
                wanted_files=wanted,
                extensions=extensions,
            )
            peers_seen = _PeerCounter(client)
            async with trio.open_nursery() as nursery:
                await _run_view(view, services, client, torrent, nursery)
                nursery.start_soon(peers_seen.run)
                nursery.start_soon(_stop_when, stop, nursery.cancel_scope)
                await torrent.completed.wait()
                if seed:
                    await trio.sleep_forever()
                nursery.cancel_scope.cancel()
            result = _result(torrent, start, peers_seen.count)
    finally:
        await storage.close()  # also when the transfer raised: no descriptors or writer thread left behind
    return result


async def seed(
    info: Info,
    data: Path | None,
    *,
    peers: Sequence[tuple[str, int]] = (),
    port: int = 0,
    host: str = "0.0.0.0",
    max_up: int = 0,
    settings: Settings | None = None,
    view: View | None = None,
    services: Sequence[Service] = (),
    extensions: Sequence = (),
    ready: Callable[[Client, Torrent], None] | None = None,
    stop: trio.Event | None = None,
    rng: random.Random | None = None,
) -> TransferResult:
    """Check the data and serve it until `stop` is set. The data must be complete."""
    from torrentish.storage.content import resolve_content_path
    from torrentish.storage.files import FileStorage

    content = resolve_content_path(info, data)
    storage = FileStorage(content, info, writable=False, resume_path=resume_path(info.info_hash))
    try:
        start = trio.current_time()
        async with open_client(port=port, host=host, settings=_settings(settings, max_up, 0), rng=rng) as client:
            torrent = await _add_torrent(client, view, info.name, info=info, storage=storage, peers=peers,
                                         upload_only=True, extensions=extensions)
            if not torrent.have.complete():
                missing = torrent.num_pieces - torrent.have.count()
                raise StorageError(
                    f"{content}: {missing} of {torrent.num_pieces} pieces are missing or damaged; "
                    "nothing to seed (check --data)"
                )
            if ready is not None:
                ready(client, torrent)
            peers_seen = _PeerCounter(client)
            async with trio.open_nursery() as nursery:
                await _run_view(view, services, client, torrent, nursery)
                nursery.start_soon(peers_seen.run)
                nursery.start_soon(_stop_when, stop, nursery.cancel_scope)
                await trio.sleep_forever()
            result = _result(torrent, start, peers_seen.count)
    finally:
        await storage.close()
    return result


async def _stop_when(stop: trio.Event | None, scope: trio.CancelScope) -> None:
    if stop is not None:
        await stop.wait()
        scope.cancel()


class _PeerCounter:
    """Counts distinct peers that connected, for the closing summary."""

    def __init__(self, client: Client):
        self._events = client.events.subscribe()
        self._seen: set[tuple[str, int]] = set()

    @property
    def count(self) -> int:
        return len(self._seen)

    async def run(self) -> None:
        from torrentish.events import PeerConnected

        async for event in self._events:
            if isinstance(event, PeerConnected):
                self._seen.add(event.address)
