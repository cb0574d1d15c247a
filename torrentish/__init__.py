"""torrentish: a BitTorrent-compatible file-sharing client on trio."""

__version__ = "0.1.0"
