"""ui/sink.py: writes never wait on the reader; what is dropped is counted and said where output
goes on; progress lines coalesce; a closed reader is noticed once; closing is bounded in time.

The blocked reader is a real pipe nobody reads (its kernel buffer fills after 64 KiB); each test
would hang, not fail, if a write waited on it, so pytest-timeout guards them.
"""

from __future__ import annotations

import io
import os
import threading

import pytest

from torrentish.ui.sink import OutputSink

pytestmark = pytest.mark.timeout(60)


class Pipe:
    """A pipe whose write end is a text file and whose read end we read when we choose."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb", buffering=0)
        self.writer = os.fdopen(write_fd, "w", buffering=1, encoding="utf-8")

    def fill(self) -> int:
        """Fill the kernel's buffer, so that the next write blocks; returns the bytes written."""
        fd = self.writer.fileno()
        os.set_blocking(fd, False)
        written = 0
        try:
            while True:
                written += os.write(fd, b"." * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(fd, True)
        return written

    def read_all(self) -> str:
        """Read until the write end is closed."""
        chunks = []
        while chunk := self.reader.read(1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode()

    def drain_through(self, sink: OutputSink) -> str:
        """Start reading, let the sink write everything out and stop, and return what arrived."""
        got: list[str] = []
        reading = threading.Thread(target=lambda: got.append(self.read_all()))
        reading.start()
        assert sink.close(timeout=30)
        self.writer.close()
        reading.join(30)
        return got[0]

    def close(self) -> None:
        for f in (self.reader, self.writer):
            try:
                f.close()
            except OSError:
                pass


@pytest.fixture
def pipe():
    p = Pipe()
    yield p
    p.close()


def test_writes_arrive_in_order():
    stream = io.StringIO()
    sink = OutputSink(stream)
    for i in range(1000):
        sink.write(f"line {i}\n")
    assert sink.close(timeout=10)
    assert stream.getvalue() == "".join(f"line {i}\n" for i in range(1000))
    assert sink.dropped == 0


def test_a_reader_that_stops_costs_dropped_lines_never_a_wait(pipe):
    sink = OutputSink(pipe.writer, limit=10_000)
    lines = [f"line {i:06d} {'x' * 80}\n" for i in range(20_000)]  # 1.8 MB: far past the pipe and the limit
    for line in lines:
        sink.write(line)  # returns at once although nobody reads
    assert sink.dropped > 0  # positive control: the reader really was blocked
    sink.write("after\n")
    got_text = pipe.drain_through(sink)
    got = got_text.splitlines()
    notices = [line for line in got if line.startswith("(output was blocked:")]
    assert notices and sum(int(n.split()[3]) for n in notices) == sink.dropped
    kept = [line for line in got if line.startswith("line ")]
    assert len(kept) + sink.dropped == len(lines)
    assert kept == sorted(kept)  # what got through is in order, nothing invented
    assert got[-1] == "after"


def test_progress_lines_coalesce_while_the_reader_is_away(pipe):
    sink = OutputSink(pipe.writer, limit=1 << 20)
    filler = "f" * 1000 + "\n"
    for _ in range(200):  # fill the pipe so that later writes wait in the sink
        sink.write(filler)
    for i in range(5000):
        sink.write(f"progress {i}\n", replaces="progress")
    sink.write("done\n")
    got_text = pipe.drain_through(sink)
    progress = [line for line in got_text.splitlines() if line.startswith("progress")]
    assert progress[-1] == "progress 4999"
    assert len(progress) < 5000  # most were replaced by newer ones before they went out
    assert got_text.endswith("done\n") and sink.dropped == 0


def test_a_closed_reader_is_noticed_once_and_later_writes_are_discarded(pipe):
    called = threading.Event()
    sink = OutputSink(pipe.writer, on_closed=called.set)
    pipe.reader.close()
    sink.write("anyone there?\n")
    assert called.wait(10)
    assert sink.reader_gone and sink.closed
    sink.write("more\n")  # discarded, no error
    assert sink.close(timeout=5)


def test_closing_with_a_stuck_reader_gives_up_in_time(pipe):
    sink = OutputSink(pipe.writer)
    for _ in range(200):
        sink.write("y" * 1000 + "\n")
    assert not sink.close(timeout=0.2)  # 200 KB cannot go into a 64 KiB pipe nobody reads
    pipe.drain_through(sink)  # let the writer finish before the pipe goes


def test_the_closing_summary_is_never_dropped(pipe):
    pipe.fill()
    sink = OutputSink(pipe.writer, limit=5_000)
    for i in range(500):
        sink.write(f"event {i} {'z' * 100}\n")
    assert sink.dropped
    sink.never_drop()
    sink.write("summary\n")
    got_text = pipe.drain_through(sink)
    lines = got_text.lstrip(".").splitlines()
    assert lines[-1] == "summary" and lines[-2].startswith("(output was blocked:")
