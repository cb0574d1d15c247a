"""Downloading and seeding: the functions behind `torrentish get` and `seed`, on a session.

Each runs a session that keeps nothing (torrentish/session; state stays in the torrent's own
resume file) with the services the caller passes; `seed_several` serves many torrents from one
listener.

Usable from Python:

    result = trio.run(partial(get, metainfo, Path("downloads"), peers=[("10.0.0.2", 6881)]))

A `view` (any async callable taking the client and the torrent) runs beside the transfer and is
cancelled when it ends; if it also has a `checking(client, name)` method, that runs while the data
already on disk is checked, before the torrent starts, and a `subscribe(client)` method is called
before the torrent is added, so that the view can hear the events of its first moments. The engine itself knows nothing of terminals.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import trio

from torrentish.engine.client import Client
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.errors import StorageError, TorrentishError
from torrentish.formats.metainfo import Info, Metainfo
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


def _session_config(download_dir: Path, port: int, host: str, settings: Settings):
    """A session that keeps nothing and adds no services of its own: the caller's `services`
    (trackers, LSD, DHT, PEX as the command line chose them) run beside the torrent."""
    from torrentish.session import SessionConfig

    return SessionConfig(state_dir=None, download_dir=download_dir, listen_port=port, host=host,
                         max_active_downloads=0, max_active_seeds=0, up_limit=settings.max_upload_rate,
                         down_limit=settings.max_download_rate, lsd=False, dht=False, pex=False,
                         trackers=False, engine=settings)


def _result(info: Info, torrent: Torrent | None, start: float, peers_seen: int) -> TransferResult:
    return TransferResult(
        name=info.name,
        total=info.total_length,
        downloaded=torrent.downloaded if torrent is not None else 0,
        uploaded=torrent.uploaded if torrent is not None else 0,
        elapsed=trio.current_time() - start,
        complete=torrent is not None and torrent.completed.is_set(),
        peers_seen=peers_seen,
    )


async def _running(session, managed, view: View | None) -> Torrent:
    """The engine torrent once the data on disk is checked and it trades; a view with a
    `checking(client, name)` method shows that check as it goes (hashing a large download can
    take minutes, and the view proper starts only with the torrent). Raises the torrent's error."""
    checking = getattr(view, "checking", None)
    async with trio.open_nursery() as nursery:
        if checking is not None:
            nursery.start_soon(checking, session.client, managed.name)
        while managed.engine is None or not managed.engine._serving:
            _raise_error_of(managed)
            await session.next_pass()
        nursery.cancel_scope.cancel()
    return managed.engine


def _raise_error_of(managed) -> None:
    if managed.error:
        raise managed.last_exception or StorageError(managed.error_string)


async def _fail_with(session, managed) -> None:
    """Raise the torrent's error here, should it stop on one while it runs (a full disk)."""
    while True:
        _raise_error_of(managed)
        await session.next_pass()


def _subscribe(client: Client, view: View | None) -> _PeerCounter:
    """The summary's peer counter and the view (if it can) start hearing events."""
    subscribe = getattr(view, "subscribe", None)
    if subscribe is not None:
        subscribe(client)
    return _PeerCounter(client)


async def _run_view(view: View | None, client: Client, torrent: Torrent, nursery: trio.Nursery) -> None:
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
    from torrentish.session import open_session

    wanted = _select_files(info, only) if only else None
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume is True:
        resume = resume_path(info.info_hash)
    start = trio.current_time()
    engine = None
    peers_seen = 0
    config = _session_config(out_dir, port, host, _settings(settings, max_up, max_down))
    async with open_session(config, rng=rng) as session:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_when, stop, nursery.cancel_scope)
            counter = _subscribe(session.client, view)  # before the torrent starts: no event is missed
            nursery.start_soon(counter.run)
            managed = await session.add(info, peers=peers, resume_path=resume or None, wanted_files=wanted,
                                        sequential=sequential, services=services, extensions=extensions)
            engine = await _running(session, managed, view)
            await _run_view(view, session.client, engine, nursery)
            nursery.start_soon(_fail_with, session, managed)
            await engine.completed.wait()
            if seed:
                await trio.sleep_forever()
            nursery.cancel_scope.cancel()
        peers_seen = counter.count if engine is not None else 0
    return _result(info, engine, start, peers_seen)


async def seed(info: Info, data: Path | None, **options) -> TransferResult:
    """Check the data and serve it until `stop` is set. The data must be complete. Options as
    seed_several's."""
    return (await seed_several([(info, data)], **options))[0]


async def seed_several(
    torrents: Sequence[tuple[Info | Metainfo, Path | None]],
    *,
    peers: Sequence[tuple[str, int]] = (),
    port: int = 0,
    host: str = "0.0.0.0",
    max_up: int = 0,
    settings: Settings | None = None,
    view: View | None = None,
    services: Sequence[Service] = (),
    extensions: Sequence = (),
    discovery: dict | None = None,
    listener_services: Sequence[Service] = (),
    ready: Callable[[Client, Torrent], None] | None = None,
    stop: trio.Event | None = None,
    rng: random.Random | None = None,
) -> list[TransferResult]:
    """Seed each (torrent, data) from one listener until `stop` is set; each must be complete.

    `discovery` turns on the session's own shared services (SessionConfig's lsd, dht, pex,
    trackers, dht_bootstrap, dht_state_path: the trackers of a Metainfo are announced to);
    `services` and `extensions` run for every torrent (so they must serve several);
    `listener_services` (port mapping) run once for the listener, once the torrents run (the
    trackers announce again when a mapping changes the port): their "torrent" has only the
    `events` bus. `view` and `ready` get the first torrent."""
    from dataclasses import replace

    from torrentish.session import open_session
    from torrentish.storage.content import resolve_content_path

    start = trio.current_time()
    infos = [t.info if isinstance(t, Metainfo) else t for t, _ in torrents]
    contents = [resolve_content_path(info, data) for info, (_, data) in zip(infos, torrents)]
    config = replace(_session_config(contents[0].parent, port, host, _settings(settings, max_up, 0)),
                     allowed_roots=tuple(dict.fromkeys(c.parent for c in contents)), **(discovery or {}))
    engines: list[Torrent] = []
    counter = None
    async with open_session(config, rng=rng) as session:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_when, stop, nursery.cancel_scope)
            counter = _subscribe(session.client, view)  # before the torrents start: no event is missed
            nursery.start_soon(counter.run)
            added = [await session.add(torrent, download_dir=content.parent, content_path=content, writable=False,
                                       upload_only=True, resume_path=resume_path(info.info_hash), peers=peers,
                                       services=services, extensions=extensions)
                     for (torrent, _), info, content in zip(torrents, infos, contents)]
            for n, (managed, content) in enumerate(zip(added, contents)):
                engine = await _running(session, managed, view if n == 0 else None)
                if not engine.have.complete():
                    missing = engine.num_pieces - engine.have.count()
                    raise StorageError(
                        f"{content}: {missing} of {engine.num_pieces} pieces are missing or damaged; "
                        "nothing to seed (check --data)"
                    )
                engines.append(engine)
                nursery.start_soon(_fail_with, session, managed)
            if ready is not None:
                ready(session.client, engines[0])
            for service in listener_services:  # beside the view, which shows what they publish
                nursery.start_soon(service, session.client, SimpleNamespace(events=session.events))
            await _run_view(view, session.client, engines[0], nursery)
            await trio.sleep_forever()
    seen = counter.count if counter is not None else 0
    return [_result(info, engines[n] if n < len(engines) else None, start, seen) for n, info in enumerate(infos)]


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
