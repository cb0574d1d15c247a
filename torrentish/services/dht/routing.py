"""The Kademlia routing table of BEP 5: k-buckets over the 160-bit id space; pure.

A contact is *good* when it answered one of our queries within ``good_for`` seconds (15 minutes),
*questionable* after that, and *bad* after ``max_failures`` unanswered queries in a row; bad
contacts are removed and the freshest replacement takes their place.

Only nodes that answered one of our queries enter the table (``heard_from(..., responded=True)``):
a query alone proves nothing about its source address, so the node pings such senders first. A
full bucket that covers our own id splits; any other full bucket keeps the newcomer as a
replacement and asks (by returning it) for its least recently seen questionable contact to be
pinged. The table is bounded: at most 160 buckets of ``k`` contacts and ``k`` replacements each.

Address rules: one contact per address, and an address cannot be taken over by another node id
while its contact is good. With ``restrict_ips``, a public IP address holds at most one contact
(loopback and LAN addresses are exempt, so local test swarms work).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from torrentish.formats.compact import is_local

Address = tuple[str, int]
ID_BITS = 160
ID_SPACE = 1 << ID_BITS


def id_to_int(node_id: bytes) -> int:
    return int.from_bytes(node_id, "big")


def distance(a: bytes, b: bytes) -> int:
    """The XOR metric."""
    return id_to_int(a) ^ id_to_int(b)


@dataclass
class Contact:
    node_id: bytes
    address: Address
    last_response: float | None = None  # it answered one of our queries
    last_query: float | None = None  # it queried us
    failures: int = 0  # our queries it left unanswered, in a row

    def good(self, now: float, good_for: float) -> bool:
        if self.failures or self.last_response is None:
            return False
        last = max(self.last_response, self.last_query or self.last_response)
        return now - last < good_for

    def last_seen(self) -> float:
        return max(self.last_response or 0.0, self.last_query or 0.0)


@dataclass
class Bucket:
    low: int  # ids in [low, high)
    high: int
    last_changed: float
    contacts: list[Contact]
    replacements: list[Contact]  # newest last

    def covers(self, value: int) -> bool:
        return self.low <= value < self.high


class RoutingTable:
    def __init__(
        self,
        own_id: bytes,
        *,
        k: int = 8,
        good_for: float = 15 * 60.0,
        max_failures: int = 2,
        restrict_ips: bool = True,
        now: float = 0.0,
    ):
        if len(own_id) != 20:
            raise ValueError("a node id is 20 bytes")
        self.own_id = own_id
        self._own = id_to_int(own_id)
        self.k = k
        self.good_for = good_for
        self.max_failures = max_failures
        self.restrict_ips = restrict_ips
        self.buckets: list[Bucket] = [Bucket(0, ID_SPACE, now, [], [])]
        self._lows: list[int] = [0]
        self._by_id: dict[bytes, Contact] = {}
        self._by_address: dict[Address, Contact] = {}
        self._ips: dict[str, int] = {}  # contacts per public IP

    # -- lookups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_id)

    def contacts(self) -> list[Contact]:
        return list(self._by_id.values())

    def find(self, node_id: bytes) -> Contact | None:
        return self._by_id.get(node_id)

    def find_address(self, address: Address) -> Contact | None:
        return self._by_address.get(address)

    def bucket_for(self, node_id: bytes) -> Bucket:
        return self.buckets[bisect.bisect_right(self._lows, id_to_int(node_id)) - 1]

    def closest(self, target: bytes, count: int | None = None) -> list[Contact]:
        """The contacts nearest to ``target``, nearest first; those with failures come last."""
        count = self.k if count is None else count
        key = id_to_int(target)
        ranked = sorted(self._by_id.values(), key=lambda c: (c.failures > 0, id_to_int(c.node_id) ^ key))
        return ranked[:count]

    def questionable(self, now: float) -> list[Contact]:
        """Contacts that are no longer known good: to be pinged."""
        return [c for c in self._by_id.values() if not c.good(now, self.good_for)]

    # -- updates -------------------------------------------------------------------------------
    def heard_from(self, node_id: bytes, address: Address, now: float, *, responded: bool) -> Contact | None:
        """Record a message from a node. Returns a questionable contact to ping when the node's
        bucket is full (the newcomer waits as a replacement), else None."""
        if node_id == self.own_id or len(node_id) != 20:
            return None
        contact = self._by_id.get(node_id)
        if contact is not None:
            if contact.address != address:
                return None  # a known id from elsewhere: keep the address that answered us
            if responded:
                contact.last_response = now
                contact.failures = 0
                self.bucket_for(node_id).last_changed = now
            else:
                contact.last_query = now
            return None
        if not responded:
            return None  # unverified: the caller pings it, and the answer brings it in
        holder = self._by_address.get(address)
        if holder is not None:
            if holder.good(now, self.good_for):
                return None
            self.remove(holder.node_id)
        if self.restrict_ips and not is_local(address[0]) and self._ips.get(address[0], 0) >= 1:
            return None
        newcomer = Contact(node_id, address, last_response=now)
        while True:
            bucket = self.bucket_for(node_id)
            if len(bucket.contacts) < self.k:
                self._insert(bucket, newcomer, now)
                return None
            bad = [c for c in bucket.contacts if c.failures >= self.max_failures]
            if bad:
                self.remove(bad[0].node_id)
                continue
            if bucket.covers(self._own) and bucket.high - bucket.low > 1:
                self._split(bucket)
                continue
            self._add_replacement(bucket, newcomer)
            stale = [c for c in bucket.contacts if not c.good(now, self.good_for)]
            return min(stale, key=Contact.last_seen) if stale else None

    def failed(self, node_id: bytes, now: float) -> None:
        """A query to the node went unanswered; bad contacts give way to a replacement."""
        contact = self._by_id.get(node_id)
        if contact is None:
            return
        contact.failures += 1
        if contact.failures >= self.max_failures:
            bucket = self.bucket_for(node_id)
            self.remove(node_id)
            while bucket.replacements and len(bucket.contacts) < self.k:
                candidate = bucket.replacements.pop()
                if candidate.node_id not in self._by_id and candidate.address not in self._by_address:
                    self._insert(bucket, candidate, now)

    def remove(self, node_id: bytes) -> None:
        contact = self._by_id.pop(node_id, None)
        if contact is None:
            return
        self._by_address.pop(contact.address, None)
        host = contact.address[0]
        if host in self._ips:
            self._ips[host] -= 1
            if not self._ips[host]:
                del self._ips[host]
        bucket = self.bucket_for(node_id)
        bucket.contacts = [c for c in bucket.contacts if c.node_id != node_id]

    def refresh_targets(self, now: float, rng: random.Random, interval: float = 15 * 60.0) -> list[bytes]:
        """Random ids in buckets unchanged for ``interval`` (BEP 5 refresh); marks them refreshed."""
        targets = []
        for bucket in self.buckets:
            if now - bucket.last_changed >= interval:
                bucket.last_changed = now
                targets.append(rng.randrange(bucket.low, bucket.high).to_bytes(20, "big"))
        return targets

    # -- internals -----------------------------------------------------------------------------
    def _insert(self, bucket: Bucket, contact: Contact, now: float) -> None:
        bucket.contacts.append(contact)
        bucket.replacements = [c for c in bucket.replacements if c.node_id != contact.node_id]
        bucket.last_changed = now
        self._by_id[contact.node_id] = contact
        self._by_address[contact.address] = contact
        if not is_local(contact.address[0]):
            self._ips[contact.address[0]] = self._ips.get(contact.address[0], 0) + 1

    def _add_replacement(self, bucket: Bucket, contact: Contact) -> None:
        bucket.replacements = [c for c in bucket.replacements if c.node_id != contact.node_id]
        bucket.replacements.append(contact)
        del bucket.replacements[: -self.k]

    def _split(self, bucket: Bucket) -> None:
        mid = (bucket.low + bucket.high) // 2
        lower = Bucket(bucket.low, mid, bucket.last_changed, [], [])
        upper = Bucket(mid, bucket.high, bucket.last_changed, [], [])
        for contact in bucket.contacts:
            (lower if id_to_int(contact.node_id) < mid else upper).contacts.append(contact)
        for contact in bucket.replacements:
            (lower if id_to_int(contact.node_id) < mid else upper).replacements.append(contact)
        index = self.buckets.index(bucket)
        self.buckets[index : index + 1] = [lower, upper]
        self._lows[index : index + 1] = [lower.low, upper.low]
