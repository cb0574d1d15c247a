"""Trackers: the announce/scrape formats (HTTP and UDP), clients for them, and a tracker server."""
