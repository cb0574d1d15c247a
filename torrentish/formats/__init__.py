"""Formats: bencoding, .torrent files, magnet links, compact addresses, units. Pure: no I/O."""
