"""The `--json` stream: one JSON object per line, for scripts and benchmarks.

The format is versioned and documented in docs/events.md, with a JSON Schema beside it
(docs/events.schema.json). Every record has:

    v      the schema version (SCHEMA_VERSION)
    event  what it is: "start", one of the engine event kinds, "summary" or "error"
    t      seconds since the transfer started (trio's clock; 3 decimals)
    ts     the wall-clock time, ISO 8601 in UTC with milliseconds

then the fields of that event. Addresses are "host:port" strings ("[v6]:port" for IPv6), rates
are bytes per second, sizes bytes, durations seconds.
"""

from __future__ import annotations

import dataclasses
import time
from typing import IO, Any

from torrentish import events as ev
from torrentish.ui.logs import format_address
from torrentish.ui.sink import OutputSink

SCHEMA_VERSION = 1


def _iso(wall: float) -> str:
    seconds = int(wall)
    millis = int((wall - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _value(name: str, value: Any) -> Any:
    if name in ("address", "via"):
        return None if value is None else format_address(value)
    if name == "peers" and isinstance(value, tuple):
        return [format_address(a) for a in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


class Clock:
    """Maps trio times to the `t` and `ts` of records: `t0` is the start of the run."""

    def __init__(self, t0: float, wall0: float | None = None):
        self.t0 = t0
        self.wall0 = time.time() if wall0 is None else wall0

    def now(self) -> float:
        """The current time on the run's clock, read from the wall clock (usable after trio ends)."""
        return self.t0 + (time.time() - self.wall0)

    def stamp(self, at: float) -> dict[str, Any]:
        elapsed = max(0.0, at - self.t0)
        return {"t": round(elapsed, 3), "ts": _iso(self.wall0 + elapsed)}


def record(kind: str, at: float, clock: Clock, **fields: Any) -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, "event": kind, **clock.stamp(at), **fields}


def event_record(event: ev.Event, clock: Clock) -> dict[str, Any]:
    fields = {f.name: _value(f.name, getattr(event, f.name)) for f in dataclasses.fields(event) if f.name != "time"}
    return record(event.kind, event.time, clock, **fields)


def start_record(status, *, at: float, clock: Clock, command: str, port: int, files: int) -> dict[str, Any]:
    """The first record: what is being transferred, and where we listen."""
    return record(
        "start",
        at,
        clock,
        command=command,
        name=status.name,
        info_hash=status.info_hash,
        total=status.total,
        done=status.done,
        pieces=status.num_pieces,
        files=files,
        port=port,
        state=status.state,
    )


def summary_record(
    *,
    at: float,
    clock: Clock,
    outcome: str,
    name: str,
    total: int,
    done: int,
    downloaded: int,
    uploaded: int,
    elapsed: float,
    average_down_rate: float,
    peers_used: int,
    peers_served: int,
    peers_seen: int,
    ratio: float,
    exit_code: int,
    events_dropped: int,
) -> dict[str, Any]:
    """The last record of a transfer that ran (complete, stopped or seeded)."""
    return record(
        "summary",
        at,
        clock,
        outcome=outcome,
        name=name,
        total=total,
        done=done,
        downloaded=downloaded,
        uploaded=uploaded,
        elapsed=round(elapsed, 3),
        average_down_rate=round(average_down_rate, 3),
        peers_used=peers_used,
        peers_served=peers_served,
        peers_seen=peers_seen,
        ratio=round(ratio, 3),
        exit_code=exit_code,
        events_dropped=events_dropped,
    )


def error_record(message: str, exit_code: int, clock: Clock, at: float) -> dict[str, Any]:
    """The last record when a command fails."""
    return record("error", at, clock, message=message, exit_code=exit_code)


class JsonWriter:
    """Writes records as compact JSON lines and flushes each, so a reader sees them at once."""

    def __init__(self, stream: IO[str]):
        import json  # here, not at the top: views.py imports this module in every mode, for Clock

        self.stream = stream
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, data: dict[str, Any], replaces: str | None = None) -> None:
        """One record; `replaces`: a key under which a newer record takes this one's place while
        both still wait to be written (ui/sink.py: progress coalesces when the reader is slow)."""
        line = self._encode(data) + "\n"
        if replaces is not None and isinstance(self.stream, OutputSink):
            self.stream.write(line, replaces=replaces)
        else:
            self.stream.write(line)
        self.stream.flush()


class JsonDisplay:
    """The --json view: a start record, then every engine event as it happens."""

    interval = None  # draws nothing periodically: the engine's progress events are the heartbeat

    def __init__(self, stream: IO[str]):
        self.writer = JsonWriter(stream)
        self.clock: Clock | None = None

    def start(self, watch, status) -> None:
        self.clock = watch.clock
        self.writer.write(
            start_record(status, at=watch.t0, clock=watch.clock, command=watch.command, port=watch.port,
                         files=len(status.files))
        )

    def event(self, event: ev.Event) -> None:
        assert self.clock is not None
        self.writer.write(event_record(event, self.clock),
                          replaces="progress" if isinstance(event, ev.Progress) else None)

    def dropped_notice(self, count: int) -> str:
        """The record the output writes when it takes writes again after dropping `count` lines."""
        clock = self.clock or Clock(0.0)
        return self.writer._encode(record("output_dropped", clock.now(), clock, lines=count)) + "\n"

    def refresh(self, status, ledger, now: float) -> None:
        pass

    def close(self, status, ledger) -> None:
        pass
