"""The exceptions torrentish raises on bad input.

Every message is one line a user can read: the CLI prints ``str(error)`` and exits non-zero.
Errors split the way h11's do: ``TorrentishError`` subclasses mean "the input was bad"
(a file, a link, a peer); a plain Python exception means our own bug.
"""


class TorrentishError(Exception):
    """Base class: bad input from outside (a file, a link, a peer, the user)."""


class BencodeError(TorrentishError):
    """Data is not valid bencoding, or exceeds a limit."""


class MetainfoError(TorrentishError):
    """A .torrent file or info dictionary is malformed or hostile."""


class MagnetError(TorrentishError):
    """A magnet URI is malformed."""


class ProtocolError(TorrentishError):
    """A peer broke the wire protocol; the connection to it is closed."""


class StorageError(TorrentishError):
    """The data on disk cannot be read or written as the torrent needs."""
