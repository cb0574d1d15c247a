"""One long-lived thread that runs a storage's blocking jobs in order, for trio tasks.

A download hashes and writes every piece off the event loop. ``trio.to_thread.run_sync`` does that
with a fresh job hand-off each time (a limiter token, a thread taken from trio's cache and named,
a result routed back through the thread cache), which at a thousand pieces per GiB was a tenth of
a second of the event loop's time and more of the workers'. Here the thread stays, jobs go
through a ``SimpleQueue`` (a put costs no wake-up while the thread is busy) and each result
reschedules the waiting task directly. Jobs run in submission order, which is also the order
that is kindest to the disk.

Like ``to_thread.run_sync`` by default, a job cannot be abandoned: a cancelled task waits for
its job to finish, so no job ever works on a buffer its caller has reused.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio

_STOP = object()


class StorageWorker:
    def __init__(self, name: str):
        self._name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker thread; its result, or its exception raised here."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()
        self._jobs.put((fn, args, task, token))
        result = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return result

    def _serve(self) -> None:
        reschedule = trio.lowlevel.reschedule
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, args, task, token = job
            result = outcome.capture(fn, *args)
            del fn, args, job
            try:
                token.run_sync_soon(reschedule, task, result)
            except trio.RunFinishedError:  # the run is over: nobody is waiting any more
                pass

    def stop(self) -> None:
        """Let the thread end once the jobs already queued are done (no waiting here)."""
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread = None
