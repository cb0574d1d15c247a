"""Two uTP state machines talking through a pure, lossy "wire" in virtual time (no I/O).

The wire delays each datagram by ``latency`` (+ ``jitter``, which reorders), drops it with
probability ``loss``, duplicates it with ``duplicate`` and flips a byte with ``corrupt``; a rate
(bytes/s) with a queue models a bottleneck. All randomness comes from one seeded random.Random.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from torrentish.core.ledbat import Ledbat
from torrentish.errors import ProtocolError
from torrentish.wire.utp import packet as p
from torrentish.wire.utp.connection import UtpConfig, UtpConnection


@dataclass
class WireConfig:
    latency: float = 0.01
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    rate: float = 0.0  # bytes/s of a bottleneck queue (0: none)


class Wire:
    def __init__(self, config: WireConfig, seed: int = 0, utp: UtpConfig | None = None,
                 first_seq: int = 1, recv_id: int = 1000):
        self.config = config
        self.rng = random.Random(seed)
        self.now = 0.001
        self.utp = utp or UtpConfig()
        cc = Ledbat(self.utp.payload_size)
        self.a = UtpConnection.initiate(cc, recv_id, self.now, self.utp)
        self.a.seq_nr = self.a.acked_through = first_seq  # seq wrap-around tests start near 65535
        self.a.acked_through = (first_seq - 1) & p.SEQ_MASK
        self.a.inflight.clear()
        self.a.resends = 0
        self.a._queue_packet(p.ST_SYN, b"")
        self.b: UtpConnection | None = None
        self.events: list = []
        self.count = 0
        self.queue_free = {"a": 0.0, "b": 0.0}  # when each direction's bottleneck is free
        self.received = {"a": bytearray(), "b": bytearray()}
        self.datagrams = 0
        self.decode_errors = 0
        self.reading = True  # step() hands received data to ``received`` (the application reads)

    def _send(self, src: str, datagrams: list[bytes]) -> None:
        cfg, rng = self.config, self.rng
        for data in datagrams:
            self.datagrams += 1
            if rng.random() < cfg.loss:
                continue
            copies = 2 if rng.random() < cfg.duplicate else 1
            if rng.random() < cfg.corrupt:
                # What gets past UDP's checksum in these tests: damage uTP must detect (a bad
                # version or type nibble, a truncated header, a broken extension chain).
                data = bytearray(data)
                choice = rng.randrange(3)
                if choice == 0:
                    data[0] = (data[0] & 0xF0) | rng.choice((0, 2, 15))
                elif choice == 1:
                    del data[rng.randrange(p.HEADER_SIZE):]
                else:
                    data[0] = (rng.randrange(5, 16) << 4) | 1
                data = bytes(data)
            start = self.now
            if cfg.rate:
                start = self.queue_free[src] = max(self.now, self.queue_free[src]) + len(data) / cfg.rate
            for _ in range(copies):
                arrival = start + cfg.latency + rng.random() * cfg.jitter
                self.count += 1
                heapq.heappush(self.events, (arrival, self.count, "b" if src == "a" else "a", data))

    def _deliver(self, dst: str, data: bytes) -> None:
        try:
            packet = p.decode(data)
        except ProtocolError:
            self.decode_errors += 1
            return
        if dst == "b":
            if self.b is None:
                if packet.type != p.ST_SYN:
                    return
                self.b = UtpConnection.accept(Ledbat(self.utp.payload_size), packet, 30000, self.now, self.utp)
                return
            if packet.type != p.ST_SYN and packet.conn_id != self.b.recv_id:
                return
            self.b.receive(packet, self.now)
        else:
            if packet.conn_id != self.a.recv_id:
                return
            self.a.receive(packet, self.now)

    def conns(self):
        yield "a", self.a
        if self.b is not None:
            yield "b", self.b

    def step(self) -> bool:
        """Advance to the next event; False when nothing is left to happen."""
        for name, conn in self.conns():
            self._send(name, conn.flush(self.now))
            # the count flush relies on to skip walking the flight
            assert conn.resends == sum(out.need_resend for out in conn.inflight.values())
            if self.reading:
                self.received[name] += conn.read()
        times = [conn.deadline() for _, conn in self.conns()]
        times = [t for t in times if t is not None]
        if self.events:
            times.append(self.events[0][0])
        if not times:
            return False
        self.now = max(self.now, min(times))
        while self.events and self.events[0][0] <= self.now:
            _, _, dst, data = heapq.heappop(self.events)
            self._deliver(dst, data)
        for _, conn in self.conns():
            deadline = conn.deadline()
            if deadline is not None and deadline <= self.now:
                conn.on_timer(self.now)
        return True

    def run(self, until: float, stop=lambda wire: False) -> None:
        while self.now < until and not stop(self):
            if not self.step():
                break


def transfer(wire: Wire, a_to_b: bytes, b_to_a: bytes = b"", until: float = 600.0) -> Wire:
    """Send both ways, close both, run until both are done (or ``until`` virtual seconds)."""
    pending = {"a": memoryview(a_to_b), "b": memoryview(b_to_a)}

    def feed(w: Wire) -> bool:
        for name, conn in w.conns():
            if conn.done or not conn.connected and name == "b":
                continue
            data = pending[name]
            if data and conn.state != "syn-sent":
                taken = conn.write(data)
                pending[name] = data[taken:]
            if not pending[name] and not conn.fin_pending:
                conn.close()
        return w.a.done and w.b is not None and w.b.done

    wire.run(until, feed)
    for name, conn in wire.conns():
        wire.received[name] += conn.read()
    return wire
