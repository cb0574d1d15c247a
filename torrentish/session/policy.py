"""Which of a session's torrents run: queueing and seeding limits, as plain decisions.

Pure: every function takes the facts it needs (and `now`, wall-clock seconds) and returns a
decision; the session (session.py) applies them.

Queueing follows Transmission's download and seed queues: at most `max_downloads` torrents that
still lack pieces and `max_seeds` complete ones run at once (0: no limit). A torrent started
with "start now" (`forced`) bypasses its queue but still takes a slot. A running torrent keeps
its slot when others are moved up the queue (moving never stops a transfer); a slot that frees
goes to the waiting torrent highest in the queue; lowering a limit stops the lowest running ones.

Seeding limits: a complete torrent stops once its share ratio reaches the ratio limit, or once it
has been idle (nothing sent or received) for the idle limit; each torrent follows the session's
limit, its own, or none (Transmission's seedRatioMode / seedIdleMode).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

# How a torrent's ratio or idle limit is chosen (Transmission's numbers, which the RPC uses).
FOLLOW_SESSION, OWN_LIMIT, UNLIMITED = 0, 1, 2
LIMIT_MODES = (FOLLOW_SESSION, OWN_LIMIT, UNLIMITED)
QUEUE_MOVES = ("top", "up", "down", "bottom")


@dataclass(frozen=True)
class QueueEntry:
    """A torrent the user wants running (started, not stopped), as the queue sees it."""

    key: Hashable
    position: int  # smaller runs first
    complete: bool  # every wanted piece verified: it is in the seed queue, else the download queue
    running: bool  # holds a slot now
    forced: bool = False  # started with "start now"


def plan_queue(entries: Iterable[QueueEntry], max_downloads: int, max_seeds: int) -> set[Hashable]:
    """The keys of the entries that should run now; the others wait in their queue."""
    run: set[Hashable] = set()
    by_queue: dict[bool, list[QueueEntry]] = {False: [], True: []}
    for entry in entries:
        by_queue[entry.complete].append(entry)
    for complete, members in by_queue.items():
        limit = max_seeds if complete else max_downloads
        forced = [e for e in members if e.forced]
        run.update(e.key for e in forced)
        queued = sorted((e for e in members if not e.forced), key=lambda e: (not e.running, e.position))
        slots = len(queued) if limit <= 0 else max(0, limit - len(forced))
        run.update(e.key for e in queued[:slots])
    return run


def effective_limit(mode: int, own: float | None, session: float | None) -> float | None:
    """The limit a torrent follows: the session's, its own, or none (None)."""
    if mode == UNLIMITED:
        return None
    return own if mode == OWN_LIMIT else session


def seeding_done(
    *, ratio: float, last_activity: float, now: float, ratio_limit: float | None, idle_limit_minutes: float | None
) -> str | None:
    """Why a complete torrent should stop seeding now, or None to keep seeding."""
    if ratio_limit is not None and ratio >= ratio_limit:
        return f"ratio {ratio:.2f} reached the limit of {ratio_limit:g}"
    if idle_limit_minutes is not None and now - last_activity >= idle_limit_minutes * 60:
        return f"idle for {idle_limit_minutes:g} minutes"
    return None


def move_in_queue(order: Sequence[Hashable], key: Hashable, where: str) -> list[Hashable]:
    """`order` (first runs first) with `key` moved to the top, up one, down one or to the bottom."""
    if where not in QUEUE_MOVES:
        raise ValueError(f"unknown queue move {where!r}; expected one of {QUEUE_MOVES}")
    rest = [k for k in order if k != key]
    index = list(order).index(key)
    target = {"top": 0, "up": max(0, index - 1), "down": index + 1, "bottom": len(rest)}[where]
    rest.insert(min(target, len(rest)), key)
    return rest


def place_in_queue(order: Sequence[Hashable], key: Hashable, position: int) -> list[Hashable]:
    """`order` with `key` at `position` (clamped to the queue)."""
    rest = [k for k in order if k != key]
    rest.insert(max(0, min(position, len(rest))), key)
    return rest
