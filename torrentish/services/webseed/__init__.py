"""BEP 19 web seeds: pieces fetched from HTTP(S) servers with range requests, beside the peers."""

from torrentish.services.webseed.service import WebSeedSettings, webseed_service

__all__ = ["WebSeedSettings", "webseed_service"]
