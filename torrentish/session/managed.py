"""One torrent of a session: its options, its place in the queue, and the task that runs it.

A ManagedTorrent outlives the engine's Torrent (engine/torrent.py), which exists only while it
runs. At most one task works on it at a time, in the session's nursery under a cancel scope of
its own: a check of the data on disk (`_check`), or the transfer (`_run`: the metadata of a magnet
link first, then the engine torrent with its services). Whatever goes wrong inside that task,
a full disk, a vanished directory, bad metadata or a bug, ends that task alone: the torrent
stops with `error` 3 (Transmission's "local error") and the message, and the session's other
torrents never notice.

Options set here apply at once to a running torrent and are kept in its state record
(session/store.py); the session saves records that changed (`dirty`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import trio

from torrentish.core.bitfield import Bitfield
from torrentish import events as ev
from torrentish.errors import TorrentishError
from torrentish.formats.metainfo import Info, Metainfo
from torrentish.session.options import TorrentOptions
from torrentish.session.renaming import renamed_info
from torrentish.session.services import TorrentServices
from torrentish.session.state import TorrentState
from torrentish.storage.files import FileStorage

if TYPE_CHECKING:
    from torrentish.formats.magnet import Magnet
    from torrentish.session.session import Session

log = logging.getLogger("torrentish.session")
LOCAL_ERROR = 3  # Transmission's TR_STAT_LOCAL_ERROR


class ManagedTorrent(TorrentOptions):
    def __init__(self, session: Session, state: TorrentState, meta: Metainfo | None,
                 magnet: Magnet | None = None, *, resume_store=None, content_path: Path | None = None,
                 writable: bool = True, upload_only: bool = False, peers: Sequence = (),
                 services: Sequence = (), extensions: Sequence = ()) -> None:
        self._session = session
        self.options = state  # what is persisted (dates, totals, options)
        self.meta = meta
        # The torrent's info with the files where renames put them (session/renaming.py).
        self.info: Info | None = renamed_info(meta.info, state.file_paths) if meta is not None else None
        self.magnet = magnet
        self.resume_store = resume_store  # session/store.py TorrentRecord, a ResumeFile, or None
        self.content_override = content_path  # library callers (seed --data FILE): not persisted
        self.writable = writable
        self.upload_only = upload_only
        self.extra_peers = list(peers)
        self.extra_services = list(services)
        self.extra_extensions = list(extensions)
        self.engine = None  # the engine's Torrent while the transfer runs
        self.services = TorrentServices()
        self.error = LOCAL_ERROR if state.error_string else 0
        self.last_exception: Exception | None = None  # what stopped it (error 3), for library callers
        self.dirty = False
        self.needs_check = False
        self.phase = "idle"  # idle | check-wait | checking | metadata | running
        self.removed = False
        self.held = False  # an operation (set_location) has it stopped: the scheduler leaves it be
        # The pieces it had when the transfer last started (resume data and the check at start):
        # what a restart did not fetch again.
        self.found_at_start: frozenset[int] | None = None
        self.pending_selection: tuple[int, ...] | None = None  # a magnet's so= files, until metadata
        self.last_activity = float(state.activity_date or state.added_date)
        self.start_date = 0
        self._task_scope: trio.CancelScope | None = None
        self._task_done = trio.Event()
        self._task_done.set()
        self._have: Bitfield | None = None
        self._complete: bool | None = None  # cached: every wanted piece is verified
        self._seen_traffic = 0  # engine bytes moved at the last tick (activity)
        self.totals_dirty = False  # traffic moved the totals since the record was written
        self._geometry = None
        self._magnet_link: str | None = None
        self._magnet_has_info = False
        if self.info is not None:
            self._have = _pieces_of(state.resume, self.info.num_pieces)

    # ------------------------------------------------------------------------------- identity
    @property
    def id(self) -> int:
        return self.options.id

    @property
    def info_hash(self) -> bytes:
        return self.options.info_hash

    @property
    def name(self) -> str:
        if self.info is not None:
            return self.info.name
        return self.options.name or self.info_hash.hex()

    @property
    def geometry(self):
        """The torrent's PieceGeometry (built once: status snapshots use it often)."""
        if self._geometry is None:
            self._geometry = self.info.geometry()
        return self._geometry

    @property
    def magnet_link(self) -> str:
        if self._magnet_link is None or (self.info is not None and not self._magnet_has_info):
            self._magnet_link, self._magnet_has_info = self._make_magnet_link(), self.info is not None
        return self._magnet_link

    def forget_magnet_link(self) -> None:
        self._magnet_link = None  # its name changed

    def _make_magnet_link(self) -> str:
        from torrentish.formats.magnet import make_magnet

        trackers = [u for tier in self.meta.trackers() for u in tier] if self.meta is not None else (
            list(self.magnet.trackers) if self.magnet is not None else [])
        length = self.info.total_length if self.info is not None else None
        return make_magnet(self.info_hash, self.name, trackers=trackers, length=length)

    @property
    def download_dir(self) -> Path:
        return Path(self.options.download_dir)

    @property
    def content_path(self) -> Path | None:
        """Where the data is: the file, or the directory of a multi-file torrent."""
        if self.content_override is not None:
            return self.content_override
        return None if self.info is None else self.download_dir / self.info.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.options.labels

    @property
    def added_date(self) -> int:
        return self.options.added_date

    @property
    def done_date(self) -> int:
        return self.options.done_date

    @property
    def activity_date(self) -> int:
        return self.options.activity_date

    @property
    def error_string(self) -> str:
        return self.options.error_string

    @property
    def queue_position(self) -> int:
        return self.options.queue_position

    @queue_position.setter
    def queue_position(self, position: int) -> None:
        self._session.place_in_queue(self, position)

    def move_in_queue(self, where: str) -> None:
        """"top", "up", "down" or "bottom"."""
        self._session.move_in_queue(self, where)

    # ---------------------------------------------------------------------------------- state
    @property
    def wants_run(self) -> bool:
        return self.options.running

    @property
    def running(self) -> bool:
        """A transfer task holds a queue slot (fetching metadata, checking at start, or trading)."""
        return self.phase in ("metadata", "running")

    @property
    def state(self) -> str:
        if self.phase in ("check-wait", "checking"):
            return self.phase
        if self.running:
            return "seeding" if self.complete else "downloading"
        if self.wants_run and not self.error:
            if self.needs_check:
                return "check-wait"
            return "seed-wait" if self.complete else "download-wait"
        return "stopped"

    @property
    def have(self) -> Bitfield | None:
        """The verified pieces (None without metadata)."""
        engine = self.engine
        if engine is not None and engine._serving:  # (while it checks at start, ours is the truth)
            return engine.have
        return self._have

    @property
    def complete(self) -> bool:
        """Every wanted piece is verified."""
        engine = self.engine
        if engine is not None and engine._serving:
            return engine.completed.is_set()
        if self._complete is None:
            self._complete = self._compute_complete()
        return self._complete

    def _compute_complete(self) -> bool:
        if self.info is None or self._have is None:
            return False
        have = self._have
        if have.complete():
            return True
        wanted = self.piece_priorities()
        return all(i in have for i in range(self.info.num_pieces) if wanted[i] > 0)

    @property
    def is_finished(self) -> bool:
        return self.options.finished

    def status(self, **parts: bool):
        """A snapshot for views and the RPC (session/status.py TorrentStatus); `files=False`,
        `peers=False`, `trackers=False`, `pieces=False` leave out what is not needed."""
        return self._session.status(self, **parts)

    def task_running(self) -> bool:
        return not self._task_done.is_set()

    # ------------------------------------------------------------------------- totals, dates
    @property
    def ratio(self) -> float:
        from torrentish.engine.status import share_ratio

        return share_ratio(self.uploaded_ever, self.downloaded_ever, self.info.total_length if self.info else 0)

    @property
    def uploaded_ever(self) -> int:
        return self.options.uploaded_ever + (self.engine.uploaded if self.engine is not None else 0)

    @property
    def downloaded_ever(self) -> int:
        return self.options.downloaded_ever + (self.engine.downloaded if self.engine is not None else 0)

    @property
    def corrupt_ever(self) -> int:
        return self.options.corrupt_ever + (self.engine.wasted if self.engine is not None else 0)

    def tick(self, wall: float, elapsed: float) -> bool:
        """At each pass of the session's scheduler: activity and time spent downloading or
        seeding. True while the torrent trades (it has peers, or its traffic moved): the
        scheduler then comes back within a second."""
        engine = self.engine
        if engine is None or self.phase != "running":
            return False
        moved = engine.uploaded + engine.downloaded
        active = moved != self._seen_traffic
        if active:
            self._seen_traffic = moved
            self.last_activity = wall
            self.options.activity_date = int(wall)
            self.totals_dirty = True
        if self.complete:
            self.options.seconds_seeding += round(elapsed)
        else:
            self.options.seconds_downloading += round(elapsed)
        return active or bool(engine.peers)

    def seconds_active(self) -> tuple[int, int]:
        """(seconds downloading, seconds seeding), the time since the scheduler's last pass
        included."""
        o = self.options
        if self.engine is None or self.phase != "running":
            return o.seconds_downloading, o.seconds_seeding
        pending = round(self._session.unaccounted_seconds())
        if self.complete:
            return o.seconds_downloading, o.seconds_seeding + pending
        return o.seconds_downloading + pending, o.seconds_seeding

    def state_snapshot(self) -> TorrentState:
        """A copy of the options with the running totals folded in, for the record."""
        from dataclasses import replace

        o = self.options
        return replace(o, uploaded_ever=self.uploaded_ever, downloaded_ever=self.downloaded_ever,
                       corrupt_ever=self.corrupt_ever, resume=None)

    # ---------------------------------------------------------------------------------- tasks
    def start_task(self, nursery: trio.Nursery, which: str) -> None:
        """Start the check ("check") or the transfer ("run") in the session's nursery."""
        assert not self.task_running()
        self._task_scope = trio.CancelScope()
        self._task_done = trio.Event()
        task = self._check if which == "check" else self._run
        self.phase = "check-wait" if which == "check" else "metadata" if self.info is None else "running"
        nursery.start_soon(task, self._task_scope)

    def cancel_task(self) -> None:
        if self._task_scope is not None:
            self._task_scope.cancel()

    async def stop_task(self) -> None:
        if self._task_scope is not None:
            self._task_scope.cancel()
        await self._task_done.wait()

    def _storage(self, *, writable: bool) -> FileStorage:
        from torrentish.session.storage import SessionFileStorage

        return SessionFileStorage(self.content_path, self.info, writable=writable,
                                  resume_store=self.resume_store, before_save=self._before_resume_save)

    def _before_resume_save(self) -> None:
        store = self.resume_store
        if hasattr(store, "options"):
            store.options = self.state_snapshot()
            self.dirty = self.totals_dirty = False

    async def _check(self, scope: trio.CancelScope) -> None:
        from torrentish.engine.checking import find_verified_pieces

        try:
            with scope:
                async with self._session.check_limiter:
                    self.phase = "checking"
                    storage = self._storage(writable=False)
                    try:
                        target = SimpleNamespace(storage=storage, geometry=self.geometry, info=self.info,
                                                 num_pieces=self.info.num_pieces, events=self._session.events)
                        good = await find_verified_pieces(target, trio.CapacityLimiter(2))
                        self._set_have(good)
                        await storage.save_completed(good)
                        self.needs_check = False
                    finally:
                        await storage.close()
        except BaseException as exc:
            self._failed(exc)
        finally:
            self.phase = "idle"
            self._task_done.set()
            self._session.wake()

    def _set_have(self, pieces) -> None:
        have = Bitfield(self.info.num_pieces)
        for index in pieces:
            have.add(index)
        self._have = have
        self._complete = None
        if self.complete and not self.options.done_date:
            self.options.done_date = int(self._session.wall_time())
        self.dirty = True

    async def _run(self, scope: trio.CancelScope) -> None:
        engine = storage = None
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    if self.info is None:
                        await self._session.fetch_metadata(self)
                    self.phase = "running"
                    storage = self._storage(writable=self.writable)
                    extensions = self._session.services.extensions(self.extra_extensions)
                    engine = self._session.client.make_torrent(
                        self.info, storage, strategy="sequential" if self.options.sequential else "rarest",
                        upload_only=self.upload_only, extensions=extensions)
                    engine.set_file_priorities(self.engine_file_priorities())
                    self._apply_limits(engine)
                    engine.add_peers(self.extra_peers)
                    self.engine = engine
                    self._seen_traffic = 0
                    await nursery.start(self._session.client.run_torrent, engine)
                    self._started(engine, nursery)
        except BaseException as exc:
            self._failed(exc)
        finally:
            if engine is not None:
                self._fold(engine)
            if storage is not None:
                with trio.CancelScope(shield=True):
                    await storage.close()
            self.phase = "idle"
            self._task_done.set()
            self._session.wake()

    def _started(self, engine, nursery: trio.Nursery) -> None:
        self.found_at_start = frozenset(engine.have)
        wall = self._session.wall_time()
        self.start_date = int(wall)
        self.last_activity = wall
        was_complete = engine.completed.is_set()
        if was_complete and not self.options.done_date:
            self.options.done_date = int(wall)
        tiers = self.meta.trackers() if self.meta is not None else ()
        client = self._session.client
        nursery.start_soon(self._session.services.serve, engine, tiers, self.services)
        if self.meta is not None and self.meta.url_list:  # BEP 19 web seeds: the torrent's, or ws=
            from torrentish.services.webseed import webseed_service

            nursery.start_soon(webseed_service(self.meta.url_list), client, engine)
        for service in self.extra_services:
            nursery.start_soon(service, client, engine)
        if not was_complete:
            nursery.start_soon(self._watch_completion, engine)
        self._session.wake()

    async def _watch_completion(self, engine) -> None:
        await engine.completed.wait()
        self.options.done_date = int(self._session.wall_time())
        self.dirty = True
        self._session.wake()

    def _fold(self, engine) -> None:
        """The transfer ended: keep what it did in the totals and what it has for status."""
        o = self.options
        o.uploaded_ever += engine.uploaded
        o.downloaded_ever += engine.downloaded
        o.corrupt_ever += engine.wasted
        self._session.count_session_traffic(engine.uploaded, engine.downloaded)
        if engine._serving:  # else it was stopped while checking: what we knew still holds
            self._have = engine.have
        self._complete = None
        self.engine = None
        self.dirty = True

    def _failed(self, exc: BaseException) -> None:
        """Record an error that ended our task, unless it was only a cancellation (re-raised)."""
        problem = _first_error(exc)
        if problem is None:
            raise exc
        self.last_exception = problem
        if isinstance(problem, TorrentishError):
            message = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        else:
            log.error("torrent %s stopped by a bug", self.name, exc_info=problem)
            message = f"internal error: {type(problem).__name__}: {problem}"
        self.error = LOCAL_ERROR
        self.options.error_string = message[:1000]
        self.options.running = False
        self.options.forced = False
        self.dirty = True
        self._session.events.publish(ev.TorrentError(trio.current_time(), self.id, self.info_hash.hex(), message))

    def add_peers(self, addresses: Sequence[tuple[str, int]]) -> None:
        """Peers to dial, now if it runs, else when it starts."""
        new = [a for a in addresses if a not in self.extra_peers]
        self.extra_peers.extend(new)
        if self.engine is not None:
            self.engine.add_peers(new)

    def got_metadata(self, meta: Metainfo, peers: Sequence) -> None:
        """A magnet link's metadata arrived (session.fetch_metadata)."""
        from torrentish.session.state import fit_file_options

        self.meta = meta
        self._geometry = None
        fit_file_options(self.options, len(meta.info.files))
        self.info = renamed_info(meta.info, self.options.file_paths)
        if self.pending_selection is not None:  # BEP 53 so=: the link's files only
            chosen = set(self.pending_selection)
            self.options.wanted = tuple(i in chosen for i in range(len(meta.info.files)))
            self.pending_selection = None
        self.extra_peers = [*peers, *(p for p in self.extra_peers if p not in peers)]
        self._complete = None
        self.dirty = True

    def clear_error(self) -> None:
        self.error = 0
        self.options.error_string = ""


def _first_error(exc: BaseException) -> Exception | None:
    """The first real error inside `exc` (exception groups unwrapped), None for cancellation.
    KeyboardInterrupt and the like are not errors of a torrent: they are re-raised."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, trio.Cancelled):
        return None
    if isinstance(exc, Exception):
        return exc
    raise exc


def _pieces_of(resume: dict | None, num_pieces: int) -> Bitfield | None:
    """The pieces a resume record claims (believed for status; checked again at start)."""
    if resume is None:
        return None
    try:
        return Bitfield(num_pieces, resume.get(b"pieces"))
    except (TorrentishError, TypeError, ValueError):
        return None
