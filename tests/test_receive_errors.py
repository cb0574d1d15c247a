"""net/receive_errors.py: ICMP errors are retried at once, persistent errors back off and are
logged once per run, a datagram ends the run; a receive loop on a broken socket does not spin."""

from __future__ import annotations

import errno
import logging

import trio

from torrentish.net.receive_errors import FIRST_DELAY, FREE_TRANSIENT, MAX_DELAY, ReceiveErrors, datagrams


def refused() -> OSError:
    return OSError(errno.ECONNREFUSED, "Connection refused")


def broken() -> OSError:
    return OSError(errno.EBADF, "Bad file descriptor")


def test_icmp_errors_cost_nothing_until_they_do_not_stop(caplog):
    errors = ReceiveErrors("DHT")
    assert [errors.failed(refused()) for _ in range(FREE_TRANSIENT)] == [0.0] * FREE_TRANSIENT
    assert not caplog.records
    assert errors.failed(refused()) == FIRST_DELAY  # a flood of them is not free
    assert len(caplog.records) == 1


def test_persistent_errors_back_off_doubling_to_a_cap_and_log_once(caplog):
    caplog.set_level(logging.INFO, logger="torrentish.udp")
    errors = ReceiveErrors("tracker (UDP)")
    delays = [errors.failed(broken()) for _ in range(12)]
    assert delays[:3] == [FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY]
    assert delays[-1] == MAX_DELAY and all(a <= b for a, b in zip(delays, delays[1:]))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "tracker (UDP)" in warnings[0].getMessage()
    errors.succeeded()
    assert "works again" in caplog.records[-1].getMessage()
    assert errors.failed(broken()) == FIRST_DELAY  # a new run starts from the beginning
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


class BrokenSocket:
    def __init__(self) -> None:
        self.calls = 0

    async def recvfrom(self, size: int):
        self.calls += 1
        await trio.lowlevel.checkpoint()
        raise broken()


async def test_a_loop_on_a_broken_socket_waits_instead_of_spinning(autojump_clock):
    sock = BrokenSocket()
    with trio.move_on_after(60):
        async for _ in datagrams(sock, 2048, "test"):
            pass
    # 60 s of virtual time: a spinning loop would never let the clock move (the test would hang);
    # a backing-off one tries about 20 times (0.05 s doubling to 5 s, then every 5 s).
    assert 10 < sock.calls < 30
