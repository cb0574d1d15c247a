"""How a datagram receive loop rides out errors without spinning.

UDP sockets report ICMP errors (port or host unreachable) on the next receive: that is ordinary
life on a UDP socket and costs nothing, so the loop receives again at once. A run of errors that
does not end (a closed or broken socket, no buffers, a flood) would make the loop spin at 100% of
a core: from the tenth error in a row, or at once for an error that is not ICMP's, the loop waits
before it tries again, twice as long each time up to `MAX_DELAY`, and says so once per run in the
log. A datagram received ends the run.

    async for data, source in datagrams(sock, 2048, "DHT"):
        ...
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator

import trio

LOGGER = logging.getLogger("torrentish.udp")

# What ICMP errors look like on a receive: the socket itself is fine.
TRANSIENT = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN,
                       errno.ECONNRESET, errno.EMSGSIZE})
FREE_TRANSIENT = 10  # transient errors in a row that are retried at once
FIRST_DELAY = 0.05
MAX_DELAY = 5.0


class ReceiveErrors:
    def __init__(self, what: str, logger: logging.Logger = LOGGER):
        self.what = what
        self.logger = logger
        self.in_a_row = 0
        self.delay = 0.0
        self.logged = False

    def failed(self, error: OSError) -> float:
        """Seconds to wait before receiving again after `error`."""
        self.in_a_row += 1
        if error.errno in TRANSIENT and self.in_a_row <= FREE_TRANSIENT:
            return 0.0
        self.delay = FIRST_DELAY if not self.delay else min(MAX_DELAY, self.delay * 2)
        if not self.logged:
            self.logged = True
            self.logger.warning("%s: receiving on a UDP socket fails (%s); retrying, less often each time",
                                self.what, error.strerror or error)
        return self.delay

    def succeeded(self) -> None:
        if self.logged:
            self.logger.info("%s: receiving on the UDP socket works again", self.what)
        self.in_a_row = 0
        self.delay = 0.0
        self.logged = False


async def datagrams(sock, size: int, what: str) -> AsyncIterator[tuple[bytes, tuple]]:
    """(data, source) for every datagram `sock` receives, riding out errors as above."""
    errors = ReceiveErrors(what)
    while True:
        try:
            data, source = await sock.recvfrom(size)
        except OSError as error:
            await trio.sleep(errors.failed(error))
            continue
        errors.succeeded()
        yield data, source
