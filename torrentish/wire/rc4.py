"""RC4 keystreams from `cryptography` (never our own cipher code).

MSE (wire/mse.py) encrypts with RC4, which cryptography keeps among its "decrepit" algorithms
from version 43 on; older versions have it with the other ciphers. The context returned is
cryptography's own: ``update(data) -> bytes`` and ``update_into(data, out) -> int`` run in C, so
a caller pays one call per read or write and nothing per byte. Encrypting and decrypting are the
same operation for a stream cipher, so one kind of context serves both directions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherContext

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
except ImportError:  # cryptography < 43
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4  # type: ignore[no-redef]

__all__ = ["rc4", "available"]


def rc4(key: bytes) -> CipherContext:
    """A fresh RC4 keystream for ``key``; raises UnsupportedAlgorithm where the build lacks RC4."""
    return Cipher(ARC4(key), mode=None).encryptor()


def available() -> bool:
    """Whether this cryptography build can do RC4 (OpenSSL 3 keeps it in the legacy provider,
    which cryptography loads unless CRYPTOGRAPHY_OPENSSL_NO_LEGACY is set)."""
    try:
        rc4(bytes(16))
    except UnsupportedAlgorithm:
        return False
    return True
