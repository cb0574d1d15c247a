"""Reading an HTTP reply's body from a peer we do not trust: at most `limit` bytes, in memory.

Used with httpx streaming responses (trackers, UPnP gateways): a reply that would exceed the limit
stops being read at once, and the caller says why in its own words.
"""

from __future__ import annotations


async def read_limited(response, limit: int) -> bytes | None:
    """The body of `response` (raw, as sent), or None once it passes `limit` bytes."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
