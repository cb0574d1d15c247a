"""announce_peer tokens (BEP 5): proof that an announcer can receive packets at its address.

A token is the SHA-1 of the querying IP address under a secret, truncated to 8 bytes. The secret
rotates every five minutes and the previous one stays valid, so a token is accepted for five to ten
minutes after it was handed out, as the BEP describes. Pure: ``now`` comes from the caller, the
secrets from an injected random.Random.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random

TOKEN_LENGTH = 8
ROTATE_EVERY = 5 * 60.0


class TokenIssuer:
    def __init__(self, rng: random.Random, now: float = 0.0, rotate_every: float = ROTATE_EVERY):
        self._rng = rng
        self.rotate_every = rotate_every
        self._current = rng.randbytes(16)
        self._previous = self._current
        self._rotated_at = now

    def _rotate(self, now: float) -> None:
        while now - self._rotated_at >= self.rotate_every:
            self._previous, self._current = self._current, self._rng.randbytes(16)
            self._rotated_at += self.rotate_every
            if now - self._rotated_at >= 2 * self.rotate_every:  # asleep for long: both are stale
                self._previous = self._current
                self._rotated_at = now

    @staticmethod
    def _sign(secret: bytes, host: str) -> bytes:
        try:
            packed = ipaddress.ip_address(host).packed
        except ValueError:
            packed = host.encode("utf-8", errors="replace")
        return hashlib.sha1(secret + packed).digest()[:TOKEN_LENGTH]

    def token(self, host: str, now: float) -> bytes:
        """The token to hand to ``host`` in a get_peers reply."""
        self._rotate(now)
        return self._sign(self._current, host)

    def valid(self, token: bytes, host: str, now: float) -> bool:
        """Whether ``host`` may announce with ``token`` now."""
        self._rotate(now)
        return any(hmac.compare_digest(token, self._sign(secret, host)) for secret in (self._current, self._previous))
