"""The RPC methods: each checks its arguments and calls the Session (docs/session.md).

`RpcHandler.handle(body)` is the whole RPC for the HTTP server: bytes of a POST in, bytes of
the answer out (None: only JSON-RPC notifications, HTTP 204). Nothing a client sends ends in a
traceback: bad input is an RpcError with one line; a TorrentishError or OSError from the
session is an error result with its message; any other exception is our bug, logged with its
traceback and answered with "internal error" (the daemon keeps running).

Method names are snake_case here (names.py translates the old spellings).
"""

from __future__ import annotations

import base64
import binascii
import logging
import shutil
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from torrentish import __version__
from torrentish.errors import TorrentishError
from torrentish.rpc import fields as tf
from torrentish.rpc import protocol as p
from torrentish.rpc import session_keys
from torrentish.rpc.paths import absolute_directory, inside_roots, rename_target
from torrentish.rpc.protocol import INVALID_PARAMS, Request, RpcError

from torrentish.session import DuplicateTorrent

LOGGER = logging.getLogger("torrentish.rpc")

# The old envelope answers as Transmission 4.0 (rpc-version 17); JSON-RPC as 4.1 (18, 6.0.0).
RPC_VERSION, RPC_VERSION_SEMVER = 17, "5.3.0"
JSONRPC_VERSION, JSONRPC_VERSION_SEMVER = 18, "6.0.0"
RPC_VERSION_MINIMUM = 14
RECENTLY_ACTIVE_SECONDS = 60
MAX_TORRENT_BYTES = 32 * 1024 * 1024  # as metainfo.TORRENT_LIMITS


@dataclass
class RpcSettings:
    allowed_roots: tuple[Path, ...]  # download directories must be inside one of these
    wall_clock: Callable[[], float] | None = None  # epoch seconds; None: the session's wall_time
    session_id: str = ""  # shown by session-get
    limits: p.Limits = field(default_factory=p.Limits)
    on_close: Callable[[], None] | None = None  # session-close
    fetch_url: Callable[[str], Awaitable[bytes]] | None = None  # torrent-add of an http(s) URL
    config_dir: str = ""


class RpcHandler:
    def __init__(self, session: Any, settings: RpcSettings):
        self.session = session
        self.settings = settings
        self.wall_clock = settings.wall_clock or session.wall_time
        self._removed: deque[tuple[float, int]] = deque(maxlen=10_000)  # (when, id) for recently-active
        # "recently-active" is Transmission's "changed since": traffic (the torrent's activity
        # date), a request that changed it, or a state seen to change between two such queries.
        self._touched: dict[int, float] = {}
        self._last_state: dict[int, str] = {}
        self.speeds = session_keys.SpeedLimits.from_config(session.config)
        self._methods: dict[str, Callable[[Request], Awaitable[dict[str, Any]]]] = {
            "torrent_start": self._torrent_start,
            "torrent_start_now": self._torrent_start_now,
            "torrent_stop": self._torrent_stop,
            "torrent_verify": self._torrent_verify,
            "torrent_reannounce": self._torrent_reannounce,
            "torrent_get": self._torrent_get,
            "torrent_add": self._torrent_add,
            "torrent_remove": self._torrent_remove,
            "torrent_set": self._torrent_set,
            "torrent_set_location": self._torrent_set_location,
            "torrent_rename_path": self._torrent_rename_path,
            "queue_move_top": self._queue("top"),
            "queue_move_up": self._queue("up"),
            "queue_move_down": self._queue("down"),
            "queue_move_bottom": self._queue("bottom"),
            "session_get": self._session_get,
            "session_set": self._session_set,
            "session_stats": self._session_stats,
            "session_close": self._session_close,
            "free_space": self._free_space,
            "port_test": self._unsupported("port-test"),
            "blocklist_update": self._unsupported("blocklist-update"),
            "group_get": self._group_get,
            "group_set": self._unsupported("group-set"),
        }

    # ------------------------------------------------------------------------------- envelope
    async def handle(self, body: bytes) -> bytes | None:
        try:
            requests, batch = p.parse_body(body, self.settings.limits)
        except RpcError as error:
            jsonrpc = b'"jsonrpc"' in body[:4096]
            return p.encode(p.failure(None, error, jsonrpc=jsonrpc))
        answers = []
        for request in requests:
            if isinstance(request, RpcError):
                answers.append(p.failure(None, request, jsonrpc=batch))
                continue
            answer = await self.call(request)
            if request.has_id:
                answers.append(answer)
        if not answers:
            return None
        return p.encode(answers if batch else answers[0])

    async def call(self, request: Request) -> dict[str, Any]:
        method = self._methods.get(request.method)
        if method is None:
            spelled = request.method if request.jsonrpc else p.names.legacy_name(request.method)
            return p.failure(request, RpcError(p.METHOD_NOT_FOUND, f"method name not recognized: {spelled[:64]}"))
        try:
            result = await method(request)
        except RpcError as error:
            return p.failure(request, error)
        except TorrentishError as error:
            return p.failure(request, RpcError(INVALID_PARAMS, str(error)))
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            return p.failure(request, RpcError(p.SYSTEM_ERROR, where + (error.strerror or str(error))))
        except Exception as error:  # noqa: BLE001 - a bug of ours must not end the daemon
            LOGGER.exception("RPC %s failed", request.method)
            return p.failure(request, RpcError(p.INTERNAL_ERROR, f"internal error: {type(error).__name__}"))
        if request.method == "torrent_get" and not request.jsonrpc:
            # torrent objects are spelled already (fields.py); only the envelope is old-style
            answer: dict[str, Any] = {"result": "success", "arguments": result}
            if request.tag is not None:
                answer["tag"] = request.tag
            return answer
        return p.success(request, result, in_torrent=request.method == "torrent_add")

    # ------------------------------------------------------------------------------- selection
    def _select(self, request: Request, *, strict: bool) -> list[Any]:
        """The torrents `ids` names. `strict` (mutating methods): an unknown id is an error and
        nothing is touched; torrent-get skips unknown ids, as Transmission does."""
        selection = p.get_ids(request, limits=self.settings.limits)
        torrents = self.session.torrents()
        if selection.all:
            return self._touch(torrents) if strict else torrents
        if selection.recently_active:
            return self._recently_active(torrents)
        found, missing, seen = [], [], set()
        for key in selection.ids:
            torrent = self.session.find(key)
            if torrent is None:
                missing.append(key)
            elif torrent.id not in seen:
                seen.add(torrent.id)
                found.append(torrent)
        if missing and strict:
            shown = ", ".join(str(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise RpcError(INVALID_PARAMS, f"no torrent with id {shown}")
        return self._touch(found) if strict else found

    def _touch(self, torrents: list[Any]) -> list[Any]:
        now = self.wall_clock()
        for torrent in torrents:
            self._touched[torrent.id] = now
        return torrents

    def _recently_active(self, torrents: list[Any]) -> list[Any]:
        now = self.wall_clock()
        for torrent in torrents:
            state = torrent.state
            if self._last_state.get(torrent.id) != state:
                self._last_state[torrent.id] = state
                self._touched[torrent.id] = now
        cutoff = now - RECENTLY_ACTIVE_SECONDS
        return [t for t in torrents
                if max(t.activity_date or 0, t.added_date or 0, self._touched.get(t.id, 0)) >= cutoff]

    def _recently_removed(self) -> list[int]:
        cutoff = self.wall_clock() - RECENTLY_ACTIVE_SECONDS
        return [torrent_id for when, torrent_id in self._removed if when >= cutoff]

    # ------------------------------------------------------------------------------- torrents
    def _each(self, action: Callable[[Any], Awaitable[Any] | Any]):
        async def run(request: Request) -> dict[str, Any]:
            for torrent in self._select(request, strict=True):
                outcome = action(torrent)
                if hasattr(outcome, "__await__"):
                    await outcome
            return {}

        return run

    async def _torrent_start(self, request: Request) -> dict[str, Any]:
        return await self._each(lambda t: self.session.start(t))(request)

    async def _torrent_start_now(self, request: Request) -> dict[str, Any]:
        return await self._each(lambda t: self.session.start(t, now=True))(request)

    async def _torrent_stop(self, request: Request) -> dict[str, Any]:
        return await self._each(self.session.stop)(request)

    async def _torrent_verify(self, request: Request) -> dict[str, Any]:
        return await self._each(self.session.verify)(request)

    async def _torrent_reannounce(self, request: Request) -> dict[str, Any]:
        return await self._each(self.session.reannounce)(request)

    async def _torrent_get(self, request: Request) -> dict[str, Any]:
        wanted = p.get_str_list(request, "fields", limits=self.settings.limits, max_items=1000, max_length=64)
        if wanted is None:
            raise RpcError(INVALID_PARAMS, "torrent-get needs a fields list" if not request.jsonrpc
                           else "torrent_get needs a fields list")
        layout = p.get_str(request, "format", "objects", max_length=16)
        if layout not in ("objects", "table"):
            raise RpcError(INVALID_PARAMS, "format must be objects or table")
        selection_is_recent = request.args.get("ids") is not None and p.get_ids(request).recently_active
        torrents = self._select(request, strict=False)
        legacy = not request.jsonrpc
        render = tf.torrent_table if layout == "table" else tf.torrent_objects
        result: dict[str, Any] = {"torrents": render(torrents, wanted, legacy)}
        if selection_is_recent:
            result["removed"] = self._recently_removed()
        return result

    async def _torrent_add(self, request: Request) -> dict[str, Any]:
        limits = self.settings.limits
        filename = p.get_str(request, "filename", limits=limits)
        metainfo = request.args.get("metainfo")
        if metainfo is not None and (not isinstance(metainfo, str) or len(metainfo) > limits.max_body):
            raise RpcError(INVALID_PARAMS, "metainfo must be a base64 string")
        paused = p.get_bool(request, "paused", False)
        labels = p.get_str_list(request, "labels", limits=limits, max_items=256) or []
        download_dir = await self._download_dir(request, "download_dir")
        if metainfo:
            try:
                source: Any = base64.b64decode(metainfo, validate=False)
            except (binascii.Error, ValueError):
                raise RpcError(INVALID_PARAMS, "metainfo is not valid base64") from None
        elif filename:
            source = await self._source_from_filename(filename)
        else:
            raise RpcError(INVALID_PARAMS, "no filename or metainfo specified")
        try:
            torrent = await self.session.add(source, download_dir=download_dir, paused=bool(paused),
                                             labels=tuple(labels))
            key = "torrent_added"
        except DuplicateTorrent as duplicate:
            torrent = duplicate.existing
            key = "torrent_duplicate"
        await self._apply_file_choices(request, torrent)
        return {key: {"id": torrent.id, "name": torrent.name, "hash_string": torrent.info_hash.hex()}}

    async def _source_from_filename(self, filename: str) -> Any:
        if filename.startswith("magnet:"):
            return filename
        if filename.startswith(("http://", "https://")):
            if self.settings.fetch_url is None:
                raise RpcError(p.HTTP_ERROR, "adding from a URL is off")
            return await self.settings.fetch_url(filename)
        path = Path(filename)
        if not path.is_absolute():
            raise RpcError(p.PATH_NOT_ABSOLUTE, "filename must be an absolute path, a URL or a magnet link")
        return path

    async def _apply_file_choices(self, request: Request, torrent: Any) -> None:
        for name, wanted in (("files_wanted", True), ("files_unwanted", False)):
            indices = self._file_indices(request, name, torrent)
            if indices is not None:
                torrent.set_wanted(indices, wanted)
        for name, priority in (("priority_high", 1), ("priority_low", -1), ("priority_normal", 0)):
            indices = self._file_indices(request, name, torrent)
            if indices is not None:
                torrent.set_priority(indices, priority)
        sequential = p.get_bool(request, "sequential_download")
        if sequential is not None:
            torrent.set_sequential(sequential)

    def _file_indices(self, request: Request, name: str, torrent: Any) -> list[int] | None:
        indices = p.get_int_list(request, name, limits=self.settings.limits)
        if indices is None:
            return None
        count = torrent.file_count()
        if not indices:  # an empty list means every file
            return list(range(count))
        bad = [i for i in indices if i >= count]
        if bad:
            raise RpcError(p.FILE_INDEX_OUT_OF_RANGE,
                           f"file index {bad[0]} out of range (the torrent has {count} files)")
        return indices

    async def _torrent_remove(self, request: Request) -> dict[str, Any]:
        delete = p.get_bool(request, "delete_local_data", False)
        for torrent in self._select(request, strict=True):
            await self.session.remove(torrent, delete_data=bool(delete))
            self._removed.append((self.wall_clock(), torrent.id))
            self._touched.pop(torrent.id, None)
            self._last_state.pop(torrent.id, None)
        return {}

    async def _torrent_set(self, request: Request) -> dict[str, Any]:
        torrents = self._select(request, strict=True)
        kb = 1000  # Transmission's speed units are kB/s; the session's bytes/s
        up = p.get_int(request, "upload_limit", high=2**31)
        down = p.get_int(request, "download_limit", high=2**31)
        up_on = p.get_bool(request, "upload_limited")
        down_on = p.get_bool(request, "download_limited")
        honors = p.get_bool(request, "honors_session_limits")
        labels = p.get_str_list(request, "labels", limits=self.settings.limits, max_items=256)
        location = p.get_str(request, "location", limits=self.settings.limits)
        ratio_mode = p.get_int(request, "seed_ratio_mode", high=2)
        ratio = p.get_number(request, "seed_ratio_limit", high=1e6)
        idle_mode = p.get_int(request, "seed_idle_mode", high=2)
        idle = p.get_int(request, "seed_idle_limit", high=10**7)
        queue_position = p.get_int(request, "queue_position", high=2**31)
        sequential = p.get_bool(request, "sequential_download")
        for name in ("tracker_add", "tracker_remove", "tracker_replace", "tracker_list"):
            if name in request.args:
                raise RpcError(INVALID_PARAMS, "changing a torrent's trackers is not supported")
        directory = await self._checked_directory(location, "location") if location is not None else None
        for torrent in torrents:
            for name in ("files_wanted", "files_unwanted", "priority_high", "priority_low", "priority_normal"):
                self._file_indices(request, name, torrent)  # check every index before changing anything
        for torrent in torrents:
            if any(v is not None for v in (up, down, up_on, down_on, honors)):
                torrent.set_limits(**_limit_changes(torrent, up, down, up_on, down_on, honors, kb))
            await self._apply_file_choices(request, torrent)
            if labels is not None:
                torrent.set_labels(labels)
            if ratio_mode is not None or ratio is not None:
                current = torrent.status(files=False, peers=False, trackers=False, pieces=False)
                torrent.set_ratio_limit(current.ratio_mode if ratio_mode is None else ratio_mode,
                                        current.ratio_limit if ratio is None else ratio)
            if idle_mode is not None or idle is not None:
                current = torrent.status(files=False, peers=False, trackers=False, pieces=False)
                torrent.set_idle_limit(current.idle_mode if idle_mode is None else idle_mode,
                                       current.idle_limit if idle is None else idle)
            if queue_position is not None:
                self.session.place_in_queue(torrent, queue_position)
            if sequential is not None:
                torrent.set_sequential(sequential)
            if directory is not None:
                await self.session.set_location(torrent, directory, move=False)
        return {}

    async def _torrent_set_location(self, request: Request) -> dict[str, Any]:
        torrents = self._select(request, strict=True)
        location = p.get_str(request, "location", limits=self.settings.limits)
        if location is None:
            raise RpcError(INVALID_PARAMS, "location is required")
        move = p.get_bool(request, "move", False)
        directory = await self._checked_directory(location, "location")
        for torrent in torrents:
            await self.session.set_location(torrent, directory, move=bool(move))
        return {}

    async def _torrent_rename_path(self, request: Request) -> dict[str, Any]:
        torrents = self._select(request, strict=True)
        if len(torrents) != 1:
            raise RpcError(INVALID_PARAMS, "torrent-rename-path requires 1 torrent")
        path = p.get_str(request, "path", limits=self.settings.limits) or ""
        name = p.get_str(request, "name", limits=self.settings.limits) or ""
        torrent = torrents[0]
        files = torrent.status(files=True, peers=False, trackers=False, pieces=False).files
        path, name = rename_target([f.name for f in files], path, name)
        rename = getattr(self.session, "rename_path", None)
        if rename is None:
            raise RpcError(INVALID_PARAMS, "renaming files is not supported")
        await rename(torrent, path, name)
        return {"path": path, "name": name, "id": torrent.id}

    def _queue(self, where: str):
        async def move(request: Request) -> dict[str, Any]:
            for torrent in self._select(request, strict=True):
                self.session.move_in_queue(torrent, where)
            return {}

        return move

    # ------------------------------------------------------------------------------- session
    async def _session_get(self, request: Request) -> dict[str, Any]:
        wanted = p.get_str_list(request, "fields", limits=self.settings.limits, max_items=1000, max_length=64)
        values = session_keys.session_values(self.session.config, self.speeds, self._session_info(request.jsonrpc),
                                             jsonrpc=request.jsonrpc, peer_port=self.session.port)
        if wanted is not None:
            keep = {p.names.canonical(name) for name in wanted}
            values = {k: v for k, v in values.items() if k in keep}
        return values

    def _session_info(self, jsonrpc: bool) -> session_keys.SessionInfo:
        return session_keys.SessionInfo(
            version=f"{__version__} (torrentish)",
            rpc_version=JSONRPC_VERSION if jsonrpc else RPC_VERSION,
            rpc_version_minimum=RPC_VERSION_MINIMUM,
            rpc_version_semver=JSONRPC_VERSION_SEMVER if jsonrpc else RPC_VERSION_SEMVER,
            session_id=self.settings.session_id,
            config_dir=self.settings.config_dir,
        )

    async def _session_set(self, request: Request) -> dict[str, Any]:
        changes = session_keys.read_changes(request, self.settings.limits)
        if "download_dir" in changes:
            changes["download_dir"] = await self._checked_directory(changes["download_dir"], "download-dir")
        self.session.update(**session_keys.config_changes(self.session.config, self.speeds, changes))
        return {}

    async def _session_stats(self, request: Request) -> dict[str, Any]:
        return session_keys.stats_values(self.session.stats())

    async def _session_close(self, request: Request) -> dict[str, Any]:
        if self.settings.on_close is not None:
            self.settings.on_close()
        return {}

    async def _free_space(self, request: Request) -> dict[str, Any]:
        text = p.get_str(request, "path", limits=self.settings.limits)
        if text is None:
            raise RpcError(INVALID_PARAMS, "directory path argument is missing")
        directory = await self._checked_directory(text, "path")
        usage = shutil.disk_usage(_existing_parent(directory))
        return {"path": text, "size_bytes": usage.free, "total_size": usage.total}

    async def _group_get(self, request: Request) -> dict[str, Any]:
        return {"group": []}

    def _unsupported(self, name: str):
        async def refuse(request: Request) -> dict[str, Any]:
            raise RpcError(INVALID_PARAMS, f"{name} is not supported")

        return refuse

    # ------------------------------------------------------------------------------- paths
    async def _download_dir(self, request: Request, name: str) -> Path | None:
        text = p.get_str(request, name, limits=self.settings.limits)
        if text is None or text == "":
            return None
        return await self._checked_directory(text, "download-dir")

    async def _checked_directory(self, text: str, what: str) -> Path:
        """An absolute directory inside the allowed roots, symlinks followed before the check."""
        normal = absolute_directory(text, what)
        resolved = PurePosixPath(Path(normal).resolve(strict=False))
        roots = [PurePosixPath(Path(root).resolve(strict=False)) for root in self.settings.allowed_roots]
        inside_roots(resolved, roots, what)
        return Path(normal)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _limit_changes(torrent: Any, up, down, up_on, down_on, honors, kb: int) -> dict[str, Any]:
    """Transmission sets a limit's value and its switch apart (a value alone leaves the switch
    as it was); the session's set_limits turns a limit on with its value unless told otherwise."""
    changes: dict[str, Any] = {"honors_session": honors}
    if up is not None or down is not None:
        current = torrent.status(files=False, peers=False, trackers=False, pieces=False)
        if up is not None:
            changes["up"], changes["up_limited"] = up * kb, current.up_limited if up_on is None else up_on
        if down is not None:
            changes["down"], changes["down_limited"] = down * kb, current.down_limited if down_on is None else down_on
    if up is None and up_on is not None:
        changes["up_limited"] = up_on
    if down is None and down_on is not None:
        changes["down_limited"] = down_on
    return changes
