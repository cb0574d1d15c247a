"""A session: any number of torrents over one listener, one peer id and shared services.

    async with open_session(SessionConfig(state_dir=..., download_dir=...)) as session:
        t = await session.add(Path("film.torrent"))
        await session.stop(t); await session.start(t)

Everything runs in the session's nursery: the listener (engine/client.py), the shared services
(session/services.py), a scheduler that applies the queue and seeding limits after each change
and once a second while a torrent trades (session/policy.py), a writer that saves records in
batches (session/writer.py), and one task per torrent at work (managed.py), each
under its own cancel scope. With a `state_dir` the torrents, their options and resume data are
kept there (session/store.py) and come back at the next start; without one (`torrentish get`)
nothing is kept but what a torrent's own resume file holds. docs/session.md has the whole API.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import trio

from torrentish import events as ev
from torrentish.errors import TorrentishError
from torrentish.session import config as cfg
from torrentish.session import policy
from torrentish.session.config import SessionConfig
from torrentish.session.data import has_any_data
from torrentish.session.managed import ManagedTorrent
from torrentish.session.services import SessionServices
from torrentish.session.state import SessionState, TorrentState
from torrentish.session.status import SessionStats, TorrentStatus, TransferTotals, torrent_status
from torrentish.session.writer import BURST, RecordWriter

__all__ = ["SessionConfig", "Session", "open_session", "DuplicateTorrent"]

SAVE_INTERVAL = 5.0  # seconds between saves of records whose options changed
TOTALS_SAVE_INTERVAL = 60.0  # and of those whose traffic totals (and activity date) moved
TICK = 1.0  # while any torrent trades, or someone waits for a pass
IDLE_TICK = 30.0  # while none does: a thousand idle seeds are not walked every second
# Changes that come close together (an add of many torrents) share one pass: BURST (writer.py)
# A pass walks every torrent (~20 us each): woken passes are spaced by this much per torrent on
# top of BURST, so that a burst of changes to a large session costs it a few percent of a CPU.
PASS_SPACING = 0.0002


class DuplicateTorrent(TorrentishError):
    """The torrent is in the session already; `existing` is it."""

    def __init__(self, existing: ManagedTorrent) -> None:
        super().__init__(f"torrent {existing.id} ({existing.name}) is already in the session")
        self.existing = existing


class Session:
    def __init__(self, config: SessionConfig, client, nursery: trio.Nursery, rng: random.Random,
                 wall_clock: Callable[[], float]) -> None:
        self.config = config
        self.client = client
        self.events = client.events
        self.rng = rng
        self._nursery = nursery
        self._wall0, self._trio0 = wall_clock(), trio.current_time()
        self._torrents: dict[bytes, ManagedTorrent] = {}
        self._by_id: dict[int, ManagedTorrent] = {}
        self._queue: list[ManagedTorrent] = []  # queue order: first runs first
        self._wake = trio.Event()
        self._passed = trio.Event()
        self._pass_waiters = 0
        self._sleep: trio.CancelScope | None = None  # the scheduler's wait between passes
        self._busy = True  # some torrent needs the once-a-second pass (see _scheduler)
        self._last_pass = trio.current_time()
        self.check_limiter = trio.CapacityLimiter(max(1, config.check_concurrency))
        self.store = None
        self.saved = SessionState()  # totals of earlier sessions, ids, settings changed at runtime
        self._current_up = self._current_down = 0  # folded from transfers that ended
        self._files_added = 0
        self._last_save = self._last_totals_save = trio.current_time()
        self._session_dirty = False
        self._closing = False
        self.writer = RecordWriter(self)  # records and .torrent files, written in batches
        self.services = SessionServices(
            client, lsd=config.lsd, dht=config.dht, pex=config.pex, trackers=config.trackers, host=config.host,
            dht_bootstrap=config.dht_bootstrap, rng=random.Random(rng.getrandbits(64)),
            dht_state=config.dht_state_path or (config.state_dir / "dht.state" if config.state_dir else None),
            port_mapping=config.port_mapping)

    # ------------------------------------------------------------------------------- clocks
    def wall_time(self) -> float:
        """Wall-clock seconds, advancing with trio's clock (so tests on a MockClock see dates move)."""
        return self._wall0 + (trio.current_time() - self._trio0)

    def wake(self) -> None:
        self._wake.set()

    @property
    def port(self) -> int:
        return self.client.port

    # ------------------------------------------------------------------------------ queries
    def torrents(self) -> list[ManagedTorrent]:
        return sorted(self._torrents.values(), key=lambda t: t.id)

    def find(self, key: int | str | bytes) -> ManagedTorrent | None:
        """By id, 40-digit hex info hash, or 20-byte info hash."""
        if type(key) is int:
            return self._by_id.get(key)
        if isinstance(key, str) and len(key) == 40:
            try:
                key = bytes.fromhex(key)
            except ValueError:
                return None
        return self._torrents.get(key) if isinstance(key, bytes) else None

    def status(self, t: ManagedTorrent, **parts: bool) -> TorrentStatus:
        return torrent_status(t, trio.current_time(), self.wall_time(), **parts)

    def stats(self) -> SessionStats:
        torrents = list(self._torrents.values())
        now = trio.current_time()
        running = [t.engine for t in torrents if t.engine is not None]
        up = self._current_up + sum(e.uploaded for e in running)
        down = self._current_down + sum(e.downloaded for e in running)
        seconds = int(now - self._trio0)
        saved = self.saved
        return SessionStats(
            download_speed=sum(e.down.rate(now) for e in running),
            upload_speed=sum(e.up.rate(now) for e in running),
            torrent_count=len(torrents),
            active_torrent_count=sum(1 for t in torrents if t.running),
            paused_torrent_count=sum(1 for t in torrents if t.state == "stopped"),
            current=TransferTotals(up, down, self._files_added, 1, seconds),
            cumulative=TransferTotals(saved.uploaded + up, saved.downloaded + down,
                                      saved.files_added + self._files_added, saved.session_count + 1,
                                      saved.seconds_active + seconds),
        )

    def count_session_traffic(self, uploaded: int, downloaded: int) -> None:
        self._current_up += uploaded
        self._current_down += downloaded

    # -------------------------------------------------------------------------------- adding
    async def add(self, source, *, download_dir: Path | None = None, paused: bool = False,
                  labels: Sequence[str] = (), peers: Sequence[tuple[str, int]] = (), **library) -> ManagedTorrent:
        """Add a torrent: .torrent bytes, a Path to one, a magnet link (str), or an Info.

        Raises DuplicateTorrent when it is here already, TorrentishError when the source or the
        directory is not acceptable. Unless `paused`, it starts (or waits in its queue). Library
        callers (get/seed) may also pass `resume_path`, `content_path`, `writable`,
        `upload_only`, `wanted_files` (indices into info.files), `sequential`, `services` and
        `extensions` (engine/extensions.py)."""
        from torrentish.session.sources import read_source

        added = await trio.to_thread.run_sync(read_source, source)
        existing = self._torrents.get(added.info_hash)
        if existing is not None:
            raise DuplicateTorrent(existing)
        directory = self.check_directory(download_dir or self.config.download_dir)
        state = TorrentState(info_hash=added.info_hash, id=self._next_id(),
                             name=added.magnet.display_name or "" if added.magnet else "",
                             magnet=added.magnet_uri, download_dir=str(directory), running=not paused,
                             added_date=int(self.wall_time()), queue_position=len(self._queue))
        labels = tuple(labels)
        if labels:
            state.labels = labels
        t = self._managed(state, added.meta, added.magnet, peers=[*(added.magnet.peers if added.magnet else ()), *peers],
                          **library)
        if labels:
            t.set_labels(labels)
        if added.magnet is not None and added.magnet.select_only is not None:
            t.pending_selection = added.magnet.select_only
        self._files_added += 1
        if self.store is not None:
            if added.torrent_bytes is not None:
                self.writer.queue_metainfo(added.info_hash, added.torrent_bytes)
            self.writer.queue(t)
        self._register(t)
        if t.info is not None:
            t.needs_check = await trio.to_thread.run_sync(has_any_data, t.info, t.content_path)
        self.events.publish(ev.TorrentAdded(trio.current_time(), t.id, t.info_hash.hex(), t.name))
        self._check_if_needed(t)  # (the check waits for the check limiter: no queue decides it)
        self.wake()  # the scheduler's pass starts it: one pass for a burst of adds, not one walk each
        return t

    def _managed(self, state: TorrentState, meta, magnet, *, resume_path: Path | None = None,
                 wanted_files: set[int] | None = None, sequential: bool = False, **library) -> ManagedTorrent:
        from torrentish.session.store import TorrentRecord
        from torrentish.storage.files import ResumeFile

        if self.store is not None:
            resume_store = TorrentRecord(self.store, state)
        else:
            resume_store = ResumeFile(resume_path) if resume_path is not None else None
        if wanted_files is not None and meta is not None:
            state.wanted = tuple(i in wanted_files for i in range(len(meta.info.files)))
        state.sequential = state.sequential or sequential
        return ManagedTorrent(self, state, meta, magnet, resume_store=resume_store, **library)

    def _next_id(self) -> int:
        ident = self.saved.next_id
        while ident in self._by_id:
            ident += 1
        self.saved.next_id = ident + 1
        self._session_dirty = True
        return ident

    def _register(self, t: ManagedTorrent) -> None:
        self._torrents[t.info_hash] = t
        self._by_id[t.id] = t
        self._queue.append(t)
        self._renumber_queue()

    def check_directory(self, directory: Path | str) -> Path:
        """`directory` if it is inside one of the allowed roots; TorrentishError otherwise."""
        if not isinstance(directory, (str, Path)) or not str(directory) or "\0" in str(directory):
            raise TorrentishError("not a directory path")
        where = Path(os.path.realpath(os.path.abspath(directory)))
        for root in self.config.roots():
            top = Path(os.path.realpath(os.path.abspath(root)))
            if where == top or top in where.parents:
                return Path(os.path.abspath(directory))
        roots = ", ".join(str(r) for r in self.config.roots())
        raise TorrentishError(f"{directory} is outside the allowed download directories ({roots})")

    # ------------------------------------------------------------------------------ control
    async def start(self, t: ManagedTorrent, now: bool = False) -> None:
        """Start (or queue) a torrent; `now` bypasses the queue (Transmission's start-now)."""
        t.clear_error()
        o = t.options
        o.forced = bool(now) or (o.forced and o.running)
        o.running, o.finished = True, False
        t.dirty = True
        self._reschedule()

    async def stop(self, t: ManagedTorrent) -> None:
        """Stop a torrent (its resume data saved) and return once it has stopped."""
        t.options.running = t.options.forced = False
        t.dirty = True
        await t.stop_task()
        await self._save(t)
        self._reschedule()

    async def verify(self, t: ManagedTorrent) -> None:
        """Check all data on disk again; a running torrent resumes once the check is over."""
        if t.info is None:
            return
        t.held = True
        try:
            await t.stop_task()
            if hasattr(t.resume_store, "forget_resume"):
                t.resume_store.forget_resume()
            t.needs_check = True
        finally:
            t.held = False
        self._reschedule()

    def reannounce(self, t: ManagedTorrent) -> None:
        t.services.reannounce()

    async def remove(self, t: ManagedTorrent, delete_data: bool = False) -> None:
        """Remove a torrent from the session (its state files too); with `delete_data` its
        downloaded files as well."""
        if self._torrents.get(t.info_hash) is not t:
            return
        t.removed = True
        t.options.running = False
        await t.stop_task()
        del self._torrents[t.info_hash]
        self._by_id.pop(t.id, None)
        self._queue.remove(t)
        self._renumber_queue()
        self.writer.forget(t.info_hash)
        if hasattr(t.resume_store, "mark_removed"):
            t.resume_store.mark_removed()
        if self.store is not None:
            async with self.writer.lock:  # a batch in flight may hold its .torrent: not after the delete
                await trio.to_thread.run_sync(self.store.delete, t.info_hash)
        if delete_data and t.info is not None and t.content_path is not None:
            from torrentish.session.data import delete_content

            await trio.to_thread.run_sync(delete_content, t.info, t.content_path)
        self.events.publish(ev.TorrentRemoved(trio.current_time(), t.id, t.info_hash.hex()))
        self._reschedule()

    async def set_location(self, t: ManagedTorrent, path: Path | str, move: bool = True) -> None:
        """Put the torrent's data in directory `path` (inside the allowed roots): moved there
        with `move`, else looked for there (and checked)."""
        from torrentish.session.data import move_content

        directory = self.check_directory(path)
        t.held = True  # the scheduler must not start it again on the old path meanwhile
        await t.stop_task()
        try:
            if move and t.info is not None and t.content_override is None:
                await trio.to_thread.run_sync(move_content, t.info, t.content_path, directory / t.info.name)
            elif t.info is not None:
                t.needs_check = True
                if hasattr(t.resume_store, "forget_resume"):
                    t.resume_store.forget_resume()
            t.options.download_dir = str(directory)
            t.content_override = None
            t.dirty = True
        finally:
            t.held = False
            await self._save(t)
            self._reschedule()

    async def rename_path(self, t: ManagedTorrent, path: str, name: str) -> None:
        """Rename a file or folder of the torrent (`path` as its files list names it, "name/dir"),
        on disk too; renaming the first component renames the torrent. It stops meanwhile and
        resumes without a check. Kept across restarts. TorrentishError (one line) for a path the
        torrent lacks, a name that is not one plain name, or a target that exists."""
        from torrentish.session import renaming
        from torrentish.session.data import rename_item

        if t.info is None:
            raise TorrentishError("the torrent's files are not known yet (no metadata)")
        paths = renaming.original_paths(t.info)
        renamed = renaming.rename(paths, path, name)
        if renamed == paths:
            return
        old = tuple(path.split("/"))
        top = t.content_path
        source = top.joinpath(*old[1:]) if t.info.multi_file else top
        target = source.parent / name
        t.held = True
        await t.stop_task()
        try:
            await trio.to_thread.run_sync(rename_item, top, source, target)
            t.options.file_paths = tuple("/".join(p) for p in renamed)
            t.info = renaming.renamed_info(t.meta.info, t.options.file_paths)
            if len(old) == 1 and t.content_override is not None:
                t.content_override = target
            t.forget_magnet_link()
            t.dirty = True
        finally:
            t.held = False
            await self._save(t)
            self._reschedule()

    # ------------------------------------------------------------------------ speed, settings
    def set_limits(self, *, up: int | None = None, down: int | None = None) -> None:
        """The session's own up/down limits in bytes/s (0: none; None: unchanged)."""
        changes = {k: v for k, v in (("up_limit", up), ("down_limit", down)) if v is not None}
        self.update(**changes)

    def update(self, **changes) -> None:
        """Change runtime settings (config.RUNTIME_SETTINGS), validated all first; kept for
        the next start by a persistent session. TorrentishError names the first bad one."""
        checked = {name: cfg.check_setting(name, value) for name, value in changes.items()}
        if "download_dir" in checked:
            if not self.config.allowed_roots:
                self.config.allowed_roots = (Path(self.config.download_dir),)  # fixed from now on
            checked["download_dir"] = self.check_directory(checked["download_dir"])
        for name, value in checked.items():
            setattr(self.config, name, value)
            self.saved.settings[name] = cfg.to_record(name, value)
        if "transport" in checked and hasattr(self.client.network, "set_mode"):
            self.client.network.set_mode(checked["transport"])  # at once: what is dialed and taken
        self._session_dirty = True
        self._apply_speed()
        self._reschedule()

    def _apply_speed(self) -> None:
        c = self.config
        up, down = (c.alt_up, c.alt_down) if c.alt_enabled else (c.up_limit, c.down_limit)
        self.client.set_rate_limits(up=up, down=down)

    # -------------------------------------------------------------------------------- queue
    def _renumber_queue(self) -> None:
        for position, t in enumerate(self._queue):
            if t.options.queue_position != position:
                t.options.queue_position = position
                t.dirty = True

    def move_in_queue(self, t: ManagedTorrent, where: str) -> None:
        self._queue = policy.move_in_queue(self._queue, t, where)
        self._renumber_queue()
        self._reschedule()

    def place_in_queue(self, t: ManagedTorrent, position: int) -> None:
        if type(position) is not int:
            raise TorrentishError(f"queue position must be a whole number, not {position!r}")
        self._queue = policy.place_in_queue(self._queue, t, position)
        self._renumber_queue()
        self._reschedule()

    def _reschedule(self) -> None:
        """Apply the queue and seeding limits now: start and stop tasks (never waits)."""
        if self._closing:
            return
        config = self.config
        wall = self.wall_time()
        for t in self._queue:
            if t.running and t.complete and t.phase == "running":
                reason = policy.seeding_done(
                    ratio=t.ratio,
                    last_activity=t.last_activity, now=wall, ratio_limit=t.ratio_limit(),
                    idle_limit_minutes=t.idle_limit())
                if reason is not None:
                    t.options.running = t.options.forced = False
                    t.options.finished = True
                    t.dirty = True
                    t.cancel_task()
        for t in self._queue:
            self._check_if_needed(t)
        entries = [policy.QueueEntry(t, t.options.queue_position, t.complete, t.running, t.options.forced)
                   for t in self._queue if t.wants_run and not t.needs_check and not t.error and not t.held]
        run = policy.plan_queue(entries, config.max_active_downloads, config.max_active_seeds)
        for entry in entries:
            t = entry.key
            if t in run and not t.task_running():
                t.start_task(self._nursery, "run")
            elif t not in run and t.running:
                t.cancel_task()
        for t in self._queue:
            if not t.wants_run and t.running:
                t.cancel_task()

    def _check_if_needed(self, t: ManagedTorrent) -> None:
        if t.needs_check and not t.task_running() and t.info is not None and not t.error and not t.held:
            t.start_task(self._nursery, "check")

    async def next_pass(self) -> None:
        """Wait until the scheduler has looked at every torrent again (after any change, or a
        second at most): for callers waiting on a state, without polling."""
        self._pass_waiters += 1
        # An idle scheduler may have gone to sleep for IDLE_TICK before anyone waited: bring
        # its next pass within TICK, as promised.
        if self._sleep is not None:
            self._sleep.deadline = min(self._sleep.deadline, trio.current_time() + TICK)
        try:
            await self._passed.wait()
        finally:
            self._pass_waiters -= 1

    def unaccounted_seconds(self) -> float:
        """Running time since the last pass, not yet in the torrents' seconds_seeding/_downloading."""
        return trio.current_time() - self._last_pass

    def _pause(self, wall: float) -> float:
        """How long the scheduler may sleep if nothing wakes it. A second while a torrent
        trades (activity, seconds seeding, ratio limits) or a record waits to be written;
        else until the next idle limit is due, IDLE_TICK at most."""
        if self._busy or self._pass_waiters:
            return TICK
        pause = IDLE_TICK
        for t in self._queue:
            if t.dirty:
                return TICK
            if t.running and t.complete:
                minutes = t.idle_limit()
                if minutes is not None:
                    pause = min(pause, max(TICK, t.last_activity + minutes * 60 - wall))
        return pause

    async def _scheduler(self) -> None:
        last = trio.current_time()
        while True:
            with trio.move_on_after(self._pause(self.wall_time())) as self._sleep:
                await self._wake.wait()
                if not self._pass_waiters:  # (one who waits, get or seed, wants the pass now)
                    await trio.sleep(BURST + PASS_SPACING * len(self._queue))
            self._wake = trio.Event()
            passed, self._passed = self._passed, trio.Event()
            now = trio.current_time()
            wall = self.wall_time()
            busy = False
            for t in self._queue:
                busy = t.tick(wall, now - last) or busy
            self._busy = busy
            last = self._last_pass = now
            self._reschedule()
            passed.set()
            if now - self._last_save >= SAVE_INTERVAL or (not busy and now - self._last_save >= TICK):
                self._last_save = now
                totals = now - self._last_totals_save >= TOTALS_SAVE_INTERVAL
                if totals:
                    self._last_totals_save = now
                await self.save_changes(totals=totals)

    async def close(self) -> None:
        """Stop every torrent (each saves its resume data) and write the records."""
        self._closing = True
        for t in self._queue:
            t.cancel_task()
        for t in list(self._queue):
            await t.stop_task()
        await self.save_changes()

    # ------------------------------------------------------------------------------ keeping
    async def _save(self, t: ManagedTorrent) -> None:
        record = t.resume_store
        if self.store is None or not hasattr(record, "save_options") or t.removed:
            return
        record.options = t.state_snapshot()
        t.dirty = t.totals_dirty = False
        await trio.to_thread.run_sync(record.save_options)

    async def save_changes(self, *, totals: bool = True) -> None:
        """Write the records whose options changed, and with `totals` those whose traffic
        totals moved (a busy seed's would otherwise be rewritten every few seconds)."""
        for t in self._queue:
            if t.dirty or (totals and t.totals_dirty):
                self.writer.queue(t)
        await self.writer.flush()
        if self.store is not None and (totals or self._session_dirty):
            self._session_dirty = False
            await trio.to_thread.run_sync(self.store.write_session, self._session_record())

    def _session_record(self) -> SessionState:
        stats = self.stats()
        saved = self.saved
        return SessionState(next_id=saved.next_id, uploaded=stats.cumulative.uploaded,
                            downloaded=stats.cumulative.downloaded, files_added=stats.cumulative.files_added,
                            seconds_active=stats.cumulative.seconds_active,
                            session_count=stats.cumulative.session_count, settings=dict(saved.settings))

    async def fetch_metadata(self, t: ManagedTorrent) -> None:
        """A magnet link's info dictionary from peers; then it is a torrent like the others."""
        from torrentish.services.extensions.metadata_fetch import fetch_metadata
        from torrentish.session.sources import metainfo_from_magnet

        magnet = t.magnet
        sources = self.services.metadata_sources(t.info_hash, magnet.trackers if magnet else ())
        fetched = await fetch_metadata(t.info_hash, client=self.client, peers=t.extra_peers, peer_sources=sources)
        meta, data = metainfo_from_magnet(fetched.info, magnet)
        if self.store is not None:
            await trio.to_thread.run_sync(self.store.write_metainfo, t.info_hash, data)
        t.got_metadata(meta, fetched.peers)
        await self._save(t)


@asynccontextmanager
async def open_session(config: SessionConfig, *, network=None, rng: random.Random | None = None,
                       wall_clock: Callable[[], float] = time.time) -> AsyncIterator[Session]:
    """Run a session for the duration of the block; on the way out every torrent stops and
    saves its state."""
    from torrentish.engine.client import open_client
    from torrentish.session import restore

    rng = rng or random.Random()
    store = saved = None
    if config.state_dir is not None:
        store, saved = await restore.load_settings(config)
    if network is None:  # both listeners, so that uTP or TCP can be switched on while it runs
        from torrentish.net.transports import switchable_network

        network = switchable_network(config.transport)
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(open_client(
                port=config.listen_port, host=config.host, network=network, settings=config.engine, rng=rng))
        except BaseException as exc:
            error = _leaf(exc, OSError)
            if error is None:
                raise
            raise TorrentishError(f"cannot listen on port {config.listen_port}: {error.strerror or error}") from None
        async with trio.open_nursery() as nursery:
            session = Session(config, client, nursery, rng, wall_clock)
            if store is not None:
                session.store, session.saved = store, saved
                await restore.restore_torrents(session)
            session._apply_speed()
            await nursery.start(session.services.run)
            nursery.start_soon(session._scheduler)
            nursery.start_soon(session.writer.run)
            session._reschedule()
            try:
                yield session
            finally:
                with trio.CancelScope(shield=True):
                    await session.close()
                nursery.cancel_scope.cancel()


def _leaf(exc: BaseException, kind: type) -> BaseException | None:
    """The first exception of type `kind` in `exc`, exception groups unwrapped."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _leaf(inner, kind)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, kind) else None
