"""Output that never holds up the engine: what the views write goes to a bounded buffer, and a
thread of its own writes the buffer out.

A write to a pipe whose reader stopped reading (`torrentish seed --json | stuck-script`), to a
terminal on scroll lock or to a frozen SSH session blocks once the kernel's buffer is full. The
views write from trio tasks, so a blocking write there would stop every transfer. `OutputSink`
is the file the views write to instead:

- `write(text)` appends to a buffer and returns at once; only the writer thread ever waits on the
  real stream.
- `write(text, replaces=KEY)` is a progress line: while it waits in the buffer, a newer line with
  the same key takes its place, so a blocked reader later sees the latest status, not a backlog.
- When the buffer is full (`limit` characters), the text is dropped and counted; where output
  goes on, `notice(count)` (say, "(output was blocked: 120 lines dropped)") stands in for what
  was lost.
- If the stream is closed (EPIPE: `torrentish get ... | head -1`), `reader_gone` is set and
  `on_closed()` is called once, from the writer thread; what follows is discarded.

`close(timeout)` waits at most `timeout` seconds for the buffer to drain, so a process whose reader
never comes back still exits.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import IO

DEFAULT_LIMIT = 1 << 20  # characters waiting to be written before new text is dropped
CLOSE_TIMEOUT = 5.0


def _lines(text: str) -> int:
    return max(1, text.count("\n"))


class OutputSink:
    def __init__(
        self,
        stream: IO[str],
        *,
        limit: int = DEFAULT_LIMIT,
        notice: Callable[[int], str] | None = None,
        on_closed: Callable[[], None] | None = None,
    ):
        self.stream = stream
        self.limit = limit
        self.notice = notice or (lambda count: f"(output was blocked: {count} lines dropped)\n")
        self.on_closed = on_closed
        self.dropped = 0  # lines dropped so far, in all
        self.reader_gone = False
        self._pending: deque[list] = deque()  # [text, replaces-key or None]
        self._by_key: dict[str, list] = {}  # replaceable entries still waiting
        self._size = 0
        self._unreported = 0  # lines dropped since the last notice
        self._closing = False
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._busy = False  # the writer holds text it took from the buffer
        # A real file is written with os.write on its descriptor: a writer thread stuck in the
        # file object's own write would hold its buffer's lock, and the interpreter's flush of
        # stdout at exit would then wait for it forever (or abort).
        try:
            self._fd: int | None = stream.fileno()
            stream.flush()  # what was written before us goes first
        except (AttributeError, OSError, ValueError):
            self._fd = None
        self._thread = threading.Thread(target=self._run, name="torrentish-output", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- the file the views see
    def write(self, text: str, replaces: str | None = None) -> int:
        if not text:
            return 0
        with self._lock:
            if self.reader_gone or self._closing:
                return len(text)
            if replaces is not None and (entry := self._by_key.get(replaces)) is not None:
                self._size += len(text) - len(entry[0])
                entry[0] = text
                return len(text)
            if self._size + len(text) > self.limit:
                self.dropped += _lines(text)
                self._unreported += _lines(text)
                return len(text)
            if self._unreported:  # there is room again: say what was lost, where it was lost
                self._append([self.notice(self._unreported), None])
                self._unreported = 0
            entry = [text, replaces]
            self._append(entry)
            if replaces is not None:
                self._by_key[replaces] = entry
            self._ready.notify()
        return len(text)

    def never_drop(self) -> None:
        """From now on nothing is dropped (the closing summary of a command must get out)."""
        with self._lock:
            self.limit = float("inf")

    def _append(self, entry: list) -> None:
        self._pending.append(entry)
        self._size += len(entry[0])

    def flush(self) -> None:
        """Nothing to wait for: the writer thread flushes after every write."""

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def closed(self) -> bool:
        return self.reader_gone

    def writable(self) -> bool:
        return True

    # ------------------------------------------------------------------------ lifetime
    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until everything buffered is written (True) or not."""
        with self._lock:
            return self._idle.wait_for(lambda: self.reader_gone or (not self._pending and not self._busy
                                                                    and not self._unreported), timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Write what is buffered (at most `timeout` seconds), then stop the writer thread."""
        drained = self.drain(timeout)
        with self._lock:
            self._closing = True
            self._ready.notify()
        if drained:
            self._thread.join(timeout)
        return drained

    # ---------------------------------------------------------------------- the writer
    def _take(self) -> str | None:
        with self._lock:
            while not self._pending and not self._unreported and not self._closing:
                self._busy = False
                self._idle.notify_all()
                self._ready.wait()
            if not self._pending and not self._unreported:
                self._busy = False
                self._idle.notify_all()
                return None
            self._busy = True
            parts = []
            while self._pending:
                text, key = self._pending.popleft()
                if key is not None:
                    self._by_key.pop(key, None)
                parts.append(text)
            if self._unreported:  # dropped after all it held, nothing taken since: say so last
                parts.append(self.notice(self._unreported))
                self._unreported = 0
            self._size = 0
            return "".join(parts)

    def _run(self) -> None:
        while (text := self._take()) is not None:
            try:
                if self._fd is not None:
                    data = memoryview(text.encode(self.encoding, "replace"))
                    while data:
                        data = data[os.write(self._fd, data):]
                else:
                    self.stream.write(text)
                    self.stream.flush()
            except (BrokenPipeError, ValueError):  # ValueError: the stream was closed under us
                self._reader_gone()
                return
            except OSError as error:
                if error.errno in (errno.EPIPE, errno.EBADF, errno.EIO):
                    self._reader_gone()
                    return
                raise

    def _reader_gone(self) -> None:
        with self._lock:
            self.reader_gone = True
            self._pending.clear()
            self._by_key.clear()
            self._size = 0
            self._busy = False
            self._idle.notify_all()
        if self.on_closed is not None:
            self.on_closed()
