"""Bringing a persistent session back from its state directory (session/store.py).

Nothing read here can stop the session: a session record that does not load gives the defaults;
a torrent whose .torrent is unreadable but whose record holds its magnet link comes back as that
link (its metadata is fetched again); one with neither is left out, with a Warning; a record that
does not load costs that torrent its options and resume data only (it comes back started, with
the download directory's defaults, and its data is checked).
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio

from torrentish import events as ev
from torrentish.errors import TorrentishError
from torrentish.session import config as cfg
from torrentish.session import state as st
from torrentish.session.managed import LOCAL_ERROR
from torrentish.session.store import StateDir

log = logging.getLogger("torrentish.session")


async def load_settings(config: cfg.SessionConfig) -> tuple[StateDir, st.SessionState]:
    """The state dir and the session record, with the settings changed at runtime applied to
    `config` (before the listener opens: the peer port is one of them)."""
    assert config.state_dir is not None
    if not config.allowed_roots:  # the owner's download dir, whatever the kept settings say
        config.allowed_roots = (Path(config.download_dir),)
    store = StateDir(config.state_dir)
    saved = await trio.to_thread.run_sync(store.read_session) or st.SessionState()
    for name, value in list(saved.settings.items()):
        try:
            setattr(config, name, cfg.from_record(name, value))
        except TorrentishError:
            del saved.settings[name]  # not ours, or out of range: the owner's value stands
    return store, saved


def _load_one(store: StateDir, info_hash: bytes):
    """(state or None, metainfo or None, magnet or None) for one torrent, or None to leave it out."""
    from torrentish.formats.magnet import parse_magnet
    from torrentish.formats.metainfo import parse_torrent

    meta = None
    data = store.read_metainfo(info_hash)
    if data is not None:
        try:
            meta = parse_torrent(data)
        except TorrentishError:
            meta = None
        # A hybrid added by its v2 link is kept under its truncated v2 hash (BEP 52): either id fits.
        if meta is not None and info_hash not in meta.info.swarm_hashes:
            meta = None
    limits = st.state_limits(len(meta.info.files), meta.info.num_pieces,
                             sum(len("/".join(f.path).encode()) + 8 for f in meta.info.files)) if meta \
        else st.state_limits(0, 0)
    state = store.read_state(info_hash, limits)
    magnet = None
    if meta is None:
        if state is None or not state.magnet:
            return None
        try:
            magnet = parse_magnet(state.magnet)
        except TorrentishError:
            return None
        if magnet.info_hash != info_hash:
            return None
    elif state is not None:
        st.fit_file_options(state, len(meta.info.files))
    return state, meta, magnet


async def restore_torrents(session) -> None:
    from torrentish.session.data import has_any_data

    store = session.store
    hashes = await trio.to_thread.run_sync(store.info_hashes)
    restored = []
    for info_hash in hashes:
        loaded = await trio.to_thread.run_sync(_load_one, store, info_hash)
        if loaded is None:
            message = f"state of torrent {info_hash.hex()} is unreadable and names no magnet link: left out"
            log.warning(message)
            session.events.publish(ev.Warning(trio.current_time(), message))
            continue
        state, meta, magnet = loaded
        lost = state is None
        if lost:
            state = st.TorrentState(info_hash=info_hash, download_dir=str(session.config.download_dir),
                                    added_date=int(session.wall_time()), queue_position=1 << 30)
            session.events.publish(ev.Warning(trio.current_time(),
                                              f"state of torrent {info_hash.hex()} was damaged: its data is checked again"))
        if not state.download_dir:
            state.download_dir = str(Path(session.config.download_dir))
        restored.append((state, meta, magnet, lost))
    restored.sort(key=lambda r: (r[0].queue_position, r[0].id or 1 << 31))
    taken: set[int] = set()
    for state, _, _, _ in restored:
        if not state.id or state.id in taken:
            state.id = 0  # lost, or a copy of another's: a new one below
        else:
            taken.add(state.id)
    session.saved.next_id = max([session.saved.next_id, *(ident + 1 for ident in taken)])
    for state, meta, magnet, lost in restored:
        if not state.id:
            state.id = session._next_id()
        t = session._managed(state, meta, magnet, peers=list(magnet.peers) if magnet else ())
        if lost:
            t.dirty = True
        try:
            session.check_directory(state.download_dir)
        except TorrentishError as outside:  # the record is untrusted: no data goes there
            t.error, state.error_string, state.running = LOCAL_ERROR, str(outside), False
        if meta is not None and state.resume is None and not t.error:
            t.needs_check = await trio.to_thread.run_sync(has_any_data, t.info, t.content_path)
        session._register(t)
