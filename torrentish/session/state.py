"""What a session keeps of each torrent and of itself, as bencoded records: encode and load.

Pure (no I/O; store.py reads and writes the files). The files are untrusted input: a record is
read within `Limits`, and `load_torrent_state` never raises on content: a record that does not
decode gives None (the torrent comes back with default options and its data is checked again), and
a field of the wrong type or out of range is replaced by its default, so one bad value costs only
itself. The resume part (`resume`) is FileStorage's record, validated again when a torrent starts
(storage/files.py).

Ratios are kept in thousandths (bencoding has no floats).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from torrentish.formats import bencoding
from torrentish.errors import TorrentishError

STATE_VERSION = 1
MAX_LABELS = 64
MAX_LABEL_LENGTH = 256
MAX_TEXT = 4096  # paths, magnet links, error messages
MAX_ID = 2**31 - 1
OPTIONS_ROOM = 64 * 1024  # bytes a record needs besides its per-file lists and resume data
RENAME_ROOM = 256  # bytes per file a renamed path may take beyond the torrent's own
SESSION_LIMITS = bencoding.Limits(max_size=64 * 1024, max_depth=3, max_items=1000, max_int_digits=20)
MAX_COUNTER = 2**62


@dataclass
class TorrentState:
    """Everything a session keeps of one torrent besides its .torrent file."""

    info_hash: bytes
    id: int = 0  # 0: not assigned (a lost record); the session gives it a new one
    name: str = ""
    magnet: str = ""  # the link it was added from (kept until the metadata is known)
    download_dir: str = ""
    labels: tuple[str, ...] = ()
    added_date: int = 0  # wall-clock epoch seconds
    done_date: int = 0
    activity_date: int = 0
    running: bool = True  # the user wants it started (it may wait in a queue)
    forced: bool = False  # started with "start now": bypasses the queue
    finished: bool = False  # stopped by its seeding limit
    queue_position: int = 0
    uploaded_ever: int = 0
    downloaded_ever: int = 0
    corrupt_ever: int = 0
    seconds_downloading: int = 0
    seconds_seeding: int = 0
    up_limit: int = 0  # bytes/s
    up_limited: bool = False
    down_limit: int = 0
    down_limited: bool = False
    honors_session: bool = True
    ratio_mode: int = 0  # policy.FOLLOW_SESSION / OWN_LIMIT / UNLIMITED
    ratio_limit_milli: int = 2000
    idle_mode: int = 0
    idle_limit: int = 30  # minutes
    sequential: bool = False
    priorities: tuple[int, ...] = ()  # per file of the info dictionary: -1, 0, 1; () = all normal
    wanted: tuple[bool, ...] = ()  # per file; () = all wanted
    file_paths: tuple[str, ...] = ()  # per file, "name/dir/file" after renames; () = as the torrent names them
    error_string: str = ""  # the local error that stopped it, if any
    resume: dict | None = field(default=None, repr=False)  # FileStorage's completion record


# Each field's check returns the value to keep, or raises ValueError (the default is kept).
def _int_in(low: int, high: int):
    def check(value: object) -> int:
        if type(value) is not int or not low <= value <= high:
            raise ValueError
        return value

    return check


def _flag(value: object) -> bool:
    if value not in (0, 1) or type(value) is not int:
        raise ValueError
    return bool(value)


def _text(limit: int = MAX_TEXT):
    def check(value: object) -> str:
        if type(value) is not bytes or len(value) > limit:
            raise ValueError
        text = value.decode("utf-8")  # UnicodeDecodeError is a ValueError
        if "\0" in text:
            raise ValueError
        return text

    return check


def _labels(value: object) -> tuple[str, ...]:
    if type(value) is not list or len(value) > MAX_LABELS:
        raise ValueError
    check = _text(MAX_LABEL_LENGTH)
    return tuple(check(v) for v in value)


def _priorities(value: object) -> tuple[int, ...]:
    if type(value) is not list:
        raise ValueError
    check = _int_in(-1, 1)
    return tuple(check(v) for v in value)


def _wanted(value: object) -> tuple[bool, ...]:
    if type(value) is not list:
        raise ValueError
    return tuple(_flag(v) for v in value)


def _file_paths(value: object) -> tuple[str, ...]:
    from torrentish.session.renaming import safe_component

    if type(value) is not list:
        raise ValueError
    check = _text()
    paths = tuple(check(v) for v in value)
    if not all(all(safe_component(c) for c in p.split("/")) for p in paths):
        raise ValueError
    return paths


def _resume(value: object) -> dict:
    if type(value) is not dict:
        raise ValueError
    return value


_COUNTER = _int_in(0, MAX_COUNTER)
_DATE = _int_in(0, 2**40)
_CHECKS = {
    "id": _int_in(0, MAX_ID),
    "name": _text(),
    "magnet": _text(),
    "download_dir": _text(),
    "labels": _labels,
    "added_date": _DATE,
    "done_date": _DATE,
    "activity_date": _DATE,
    "running": _flag,
    "forced": _flag,
    "finished": _flag,
    "queue_position": _int_in(0, MAX_ID),
    "uploaded_ever": _COUNTER,
    "downloaded_ever": _COUNTER,
    "corrupt_ever": _COUNTER,
    "seconds_downloading": _COUNTER,
    "seconds_seeding": _COUNTER,
    "up_limit": _int_in(0, 2**40),
    "up_limited": _flag,
    "down_limit": _int_in(0, 2**40),
    "down_limited": _flag,
    "honors_session": _flag,
    "ratio_mode": _int_in(0, 2),
    "ratio_limit_milli": _int_in(0, 10**9),
    "idle_mode": _int_in(0, 2),
    "idle_limit": _int_in(0, 10**7),
    "sequential": _flag,
    "priorities": _priorities,
    "wanted": _wanted,
    "file_paths": _file_paths,
    "error_string": _text(),
    "resume": _resume,
}


def state_limits(file_count: int, num_pieces: int, path_bytes: int = 0) -> bencoding.Limits:
    """What a record of a torrent with this many files and pieces may take (0, 0: no metadata
    yet); `path_bytes`, the length of its paths, leaves room for renamed ones."""
    per_file = 48 + 8  # file_sizes and file_mtimes in the resume part, priorities and wanted
    renamed = path_bytes + RENAME_ROOM * file_count if path_bytes else 0
    return bencoding.Limits(
        max_size=OPTIONS_ROOM + (num_pieces + 7) // 8 + per_file * file_count + renamed,
        max_depth=4,
        max_items=5 * file_count + MAX_LABELS + 200,
        max_int_digits=20,
    )


def encode_torrent_state(state: TorrentState) -> bytes:
    record: dict = {"version": STATE_VERSION}
    for name, value in asdict(state).items():
        if value is None:
            continue
        if type(value) is bool:
            value = int(value)
        elif isinstance(value, tuple):
            value = [int(v) if type(v) is bool else v for v in value]
        record[name] = value
    return bencoding.encode(record)


def load_torrent_state(data: bytes, info_hash: bytes, limits: bencoding.Limits) -> TorrentState | None:
    """The record in `data` for this torrent, or None if it is not one (corrupt, truncated,
    foreign, of an unknown version). Bad fields get their defaults."""
    try:
        record = bencoding.decode(data, limits)
    except TorrentishError:
        return None
    if type(record) is not dict or record.get(b"version") != STATE_VERSION:
        return None
    if record.get(b"info_hash") != info_hash:
        return None
    state = TorrentState(info_hash=info_hash)
    for f in fields(TorrentState):
        if f.name == "info_hash":
            continue
        raw = record.get(f.name.encode())
        if raw is None:
            continue
        try:
            setattr(state, f.name, _CHECKS[f.name](raw))
        except ValueError:
            pass  # keep the default
    return state


def fit_file_options(state: TorrentState, file_count: int) -> None:
    """Per-file lists that do not match the torrent's files are dropped (all normal, all wanted)."""
    if len(state.priorities) != file_count:
        state.priorities = ()
    if len(state.wanted) != file_count:
        state.wanted = ()
    if len(state.file_paths) != file_count:
        state.file_paths = ()


@dataclass
class SessionState:
    """The session's own record: ids, lifetime totals, settings changed while it ran."""

    next_id: int = 1
    uploaded: int = 0
    downloaded: int = 0
    files_added: int = 0
    seconds_active: int = 0
    session_count: int = 0
    settings: dict[str, int | str] = field(default_factory=dict)  # SessionConfig overrides


_SESSION_CHECKS = {
    "next_id": _int_in(1, MAX_ID),
    "uploaded": _COUNTER,
    "downloaded": _COUNTER,
    "files_added": _COUNTER,
    "seconds_active": _COUNTER,
    "session_count": _COUNTER,
}


def encode_session_state(state: SessionState) -> bytes:
    record = {"version": STATE_VERSION, **{k: getattr(state, k) for k in _SESSION_CHECKS}}
    record["settings"] = {k: v for k, v in state.settings.items()}
    return bencoding.encode(record)


def load_session_state(data: bytes) -> SessionState | None:
    """The session record in `data`, or None when it is not one. Bad fields get defaults;
    settings keep only integer and text values (session.py checks each against its field)."""
    try:
        record = bencoding.decode(data, SESSION_LIMITS)
    except TorrentishError:
        return None
    if type(record) is not dict or record.get(b"version") != STATE_VERSION:
        return None
    state = SessionState()
    for name, check in _SESSION_CHECKS.items():
        raw = record.get(name.encode())
        if raw is not None:
            try:
                setattr(state, name, check(raw))
            except ValueError:
                pass
    settings = record.get(b"settings")
    if type(settings) is dict:
        for key, value in settings.items():
            try:
                name = key.decode("ascii")
                state.settings[name] = value if type(value) is int else _text()(value)
            except ValueError:
                continue
    return state
