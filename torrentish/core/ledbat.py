"""LEDBAT congestion control (RFC 6817) as uTP uses it: a window in bytes driven by one-way delay.

Plain code: the caller hands in delay samples (the peer's ``timestamp_difference``, microseconds,
an arbitrary offset because the clocks are not synchronised), bytes acknowledged, losses and
``now``. Constants follow libutp (utp_internal.cpp) and libtorrent (utp_stream.cpp):

- ``TARGET_US`` 100 ms of queueing delay (libutp CCONTROL_TARGET, libtorrent utp_target_delay);
- ``GAIN_BYTES`` 3000: the most the window grows per round trip when the queue is empty
  (libutp MAX_CWND_INCREASE_BYTES_PER_RTT); it shrinks by as much when the delay is twice the target,
  and in proportion beyond;
- the base delay is the least sample seen over ``BASE_HISTORY`` one-minute buckets (13 minutes, as
  libutp's DELAY_BASE_HISTORY), so a route change or clock drift ages out;
- the current delay is the least of the last ``CURRENT_SAMPLES`` samples, which filters a single
  delayed ack;
- slow start (libtorrent has it, libutp does not) doubles the window each round trip until a loss
  or until the queueing delay reaches half the target: a fast empty path fills in a few round trips;
- a loss halves the window (once per round trip: the caller decides what counts as one loss event);
  a timeout drops it to one packet.

Delay samples are 32-bit microsecond values that wrap; they are compared modulo 2**32.
"""

from __future__ import annotations

from collections import deque

TARGET_US = 100_000
GAIN_BYTES = 3000
BASE_HISTORY = 13
CURRENT_SAMPLES = 3
_MASK = 0xFFFFFFFF
_HALF = 0x80000000


def _older(a: int, b: int) -> bool:
    """a < b for wrapping 32-bit timestamps."""
    return a != b and ((b - a) & _MASK) < _HALF


class Ledbat:
    def __init__(self, packet_size: int = 1400, *, max_cwnd: int = 8 * 1024 * 1024,
                 target_us: int = TARGET_US):
        self.packet_size = packet_size
        self.min_cwnd = 2 * packet_size
        self.max_cwnd = max_cwnd
        self.target_us = target_us
        self.cwnd = 2 * packet_size
        self.slow_start = True
        self.ssthresh = max_cwnd
        self._base: deque[int] = deque()  # least sample per minute, newest last
        self._base_minute: int | None = None
        self._current: deque[int] = deque(maxlen=CURRENT_SAMPLES)
        self.queueing_delay_us = 0

    def base_delay(self) -> int | None:
        if not self._base:
            return None
        best = self._base[0]
        for value in self._base:
            if _older(value, best):
                best = value
        return best

    def add_delay_sample(self, sample_us: int, now: float) -> None:
        sample_us &= _MASK
        minute = int(now // 60)
        if self._base_minute != minute:
            self._base_minute = minute
            self._base.append(sample_us)
            while len(self._base) > BASE_HISTORY:
                self._base.popleft()
        elif _older(sample_us, self._base[-1]):
            self._base[-1] = sample_us
        self._current.append(sample_us)
        base = self.base_delay()
        current = min(((s - base) & _MASK for s in self._current))
        self.queueing_delay_us = current if current < _HALF else 0

    def on_ack(self, bytes_acked: int, window_limited: bool) -> None:
        """Bytes newly acknowledged; ``window_limited``: the sender had a window's worth in flight
        (a window that is not used must not grow: it would say nothing about the path)."""
        if bytes_acked <= 0:
            return
        off_target = (self.target_us - self.queueing_delay_us) / self.target_us
        if self.slow_start:
            if self.queueing_delay_us > self.target_us // 2 or self.cwnd >= self.ssthresh:
                self.slow_start = False
            elif window_limited:
                self.cwnd = min(self.max_cwnd, self.cwnd + bytes_acked)
                return
            else:
                return
        if off_target > 0 and not window_limited:
            return
        window_factor = min(bytes_acked, self.cwnd) / max(self.cwnd, bytes_acked)
        # No floor on off_target (libutp has none either): the further past the target, the
        # faster the window shrinks, which is how uTP yields to a TCP flow filling a deep queue.
        self.cwnd += GAIN_BYTES * window_factor * off_target
        self.cwnd = int(min(self.max_cwnd, max(self.min_cwnd, self.cwnd)))

    def on_loss(self) -> None:
        self.slow_start = False
        self.ssthresh = max(self.min_cwnd, self.cwnd // 2)
        self.cwnd = self.ssthresh

    def on_timeout(self) -> None:
        self.ssthresh = max(self.min_cwnd, self.cwnd // 2)
        self.cwnd = self.packet_size
        self.slow_start = True
