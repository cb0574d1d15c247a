"""A session torrent's options: labels, rate limits, file selection and priorities, sequential
order, ratio and idle limits. Each applies at once to a running torrent (`self.engine`) and marks
the record for saving; bad values are refused with a TorrentishError (untrusted: they come from
the RPC). Mixed into ManagedTorrent (managed.py), whose `options` (state.TorrentState) holds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from torrentish.errors import TorrentishError
from torrentish.session import policy


class TorrentOptions:
    """The option methods of ManagedTorrent (see there for the attributes they use)."""

    def _changed(self) -> None:
        self.dirty = True
        self._complete = None
        self._session.wake()

    def set_labels(self, labels: Sequence[str]) -> None:
        from torrentish.session.state import MAX_LABEL_LENGTH, MAX_LABELS

        labels = tuple(labels)
        if len(labels) > MAX_LABELS or any(len(l.encode()) > MAX_LABEL_LENGTH or "\0" in l for l in labels):
            raise TorrentishError(f"at most {MAX_LABELS} labels of at most {MAX_LABEL_LENGTH} bytes")
        self.options.labels = labels
        self._changed()

    def set_limits(self, *, up: int | None = None, down: int | None = None, up_limited: bool | None = None,
                   down_limited: bool | None = None, honors_session: bool | None = None) -> None:
        """Bytes/s (None: unchanged). Setting a rate turns that limit on unless `*_limited` says
        otherwise; 0 means none. `honors_session` False: the session's limits do not apply."""
        o = self.options
        for value in (up, down):
            if value is not None and not 0 <= value <= 2**40:
                raise TorrentishError(f"rate limit {value} is out of range")
        if up is not None:
            o.up_limit, o.up_limited = int(up), bool(up) if up_limited is None else up_limited
        elif up_limited is not None:
            o.up_limited = up_limited
        if down is not None:
            o.down_limit, o.down_limited = int(down), bool(down) if down_limited is None else down_limited
        elif down_limited is not None:
            o.down_limited = down_limited
        if honors_session is not None:
            o.honors_session = honors_session
        if self.engine is not None:
            self._apply_limits(self.engine)
        self._changed()

    def _apply_limits(self, engine) -> None:
        o = self.options
        engine.set_rate_limits(up=o.up_limit if o.up_limited else 0, down=o.down_limit if o.down_limited else 0)
        engine.honors_client_limits = o.honors_session

    def file_count(self) -> int:
        return 0 if self.info is None else len(self._file_map())

    def _file_map(self) -> list[int]:
        """Our file indices (what users see: pad files left out) -> indices in the info dict."""
        assert self.info is not None
        return [i for i, f in enumerate(self.info.files) if not f.padding]

    def _info_indices(self, file_indices: Sequence[int]) -> list[int]:
        if self.info is None:
            raise TorrentishError("the torrent's metadata is not known yet")
        mapping = self._file_map()
        bad = [i for i in file_indices if not (type(i) is int and 0 <= i < len(mapping))]
        if bad:
            raise TorrentishError(f"no file {bad[0]!r}: the torrent has {len(mapping)} files")
        return [mapping[i] for i in file_indices]

    def _file_lists(self) -> tuple[list[int], list[bool]]:
        count = len(self.info.files)
        o = self.options
        return list(o.priorities or [0] * count), list(o.wanted or [True] * count)

    def set_wanted(self, file_indices: Sequence[int], wanted: bool) -> None:
        """Download these files (our indices, see `status().files`), or not."""
        indices = self._info_indices(file_indices)
        priorities, flags = self._file_lists()
        for i in indices:
            flags[i] = wanted
        self.options.wanted = tuple(flags)
        self._apply_file_options()

    def set_priority(self, file_indices: Sequence[int], priority: int) -> None:
        """-1 low, 0 normal, 1 high."""
        if priority not in (-1, 0, 1):
            raise TorrentishError(f"file priority must be -1, 0 or 1, not {priority!r}")
        indices = self._info_indices(file_indices)
        priorities, _ = self._file_lists()
        for i in indices:
            priorities[i] = priority
        self.options.priorities = tuple(priorities)
        self._apply_file_options()

    def piece_priorities(self) -> list[int]:
        """Per piece, the engine's priority: 0 not wanted, else 1..3 from the files it holds."""
        geometry = self.geometry
        files = self.engine_file_priorities()
        return [max((files[f] for f, _, _ in geometry.file_spans(geometry.piece_offset(i), geometry.piece_size(i))),
                    default=0) for i in range(geometry.num_pieces)]

    def engine_file_priorities(self) -> list[int]:
        priorities, flags = self._file_lists()
        return [p + 2 if w and not f.padding else 0 for p, w, f in zip(priorities, flags, self.info.files)]

    def _apply_file_options(self) -> None:
        if self.engine is not None:
            self.engine.set_file_priorities(self.engine_file_priorities())
        self._changed()

    def set_sequential(self, sequential: bool) -> None:
        self.options.sequential = bool(sequential)
        if self.engine is not None and self.engine._serving:
            self.engine.set_sequential(self.options.sequential)
        self._changed()

    def set_ratio_limit(self, mode: int, value: float | None = None) -> None:
        """mode: policy.FOLLOW_SESSION, OWN_LIMIT or UNLIMITED; value: the ratio for OWN_LIMIT."""
        if mode not in policy.LIMIT_MODES:
            raise TorrentishError(f"ratio limit mode must be one of {policy.LIMIT_MODES}, not {mode!r}")
        if value is not None:
            if not 0 <= value <= 10**6:
                raise TorrentishError(f"ratio limit {value!r} is out of range")
            self.options.ratio_limit_milli = round(value * 1000)
        self.options.ratio_mode = mode
        self._changed()

    def set_idle_limit(self, mode: int, minutes: int | None = None) -> None:
        if mode not in policy.LIMIT_MODES:
            raise TorrentishError(f"idle limit mode must be one of {policy.LIMIT_MODES}, not {mode!r}")
        if minutes is not None:
            if type(minutes) is not int or not 0 <= minutes <= 10**7:
                raise TorrentishError(f"idle limit {minutes!r} is out of range")
            self.options.idle_limit = minutes
        self.options.idle_mode = mode
        self._changed()

    def ratio_limit(self) -> float | None:
        config = self._session.config
        own = self.options.ratio_limit_milli / 1000
        return policy.effective_limit(self.options.ratio_mode, own, config.ratio_limit)

    def idle_limit(self) -> float | None:
        config = self._session.config
        return policy.effective_limit(self.options.idle_mode, self.options.idle_limit, config.idle_limit_minutes)
