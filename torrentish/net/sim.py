"""A simulated network in trio's (virtual) time: in-memory streams over capacity-limited access links.

Model: every node hangs off an ideal core by an access link with an upload capacity, a download
capacity (bytes/s, ``inf`` = unlimited) and a one-way latency. A connection is two flows, one per
direction; the path latency of a flow is its two ends' latencies added. Bandwidth is shared by
max-min fairness (progressive filling): each busy flow is limited by its sender's upload and its
receiver's download, and every flow that is not stuck at some other bottleneck gets an equal share.

One central scheduler task does all the work, so the cost grows with the traffic, not with the
number of nodes or connections (no task per flow, let alone per byte):

- Time is cut into ticks of ``quantum`` seconds. At each tick the scheduler moves ``rate * quantum``
  bytes of every busy ("bulk") flow; rates are recomputed only when the set of bulk flows changes.
- A flow holding at most ``small_bytes`` (control messages: requests, haves, choke...) is sent whole
  at the next tick without taking part in the sharing: its bandwidth is negligible and keeping it
  out keeps the bulk set, and so the allocation, stable.
- Bytes arrive after the path latency, in order. A waiting reader is woken at once (the default),
  or, with ``rx_lowat`` set, once that many bytes wait or ``rx_hold`` seconds after the first
  waiting byte arrived: receive coalescing, like a NIC's interrupt moderation. It trades a little
  latency for far fewer task wake-ups in large swarms.

Not modelled: TCP slow start and congestion control, receive windows (readers are assumed to keep
up), loss. ``send_all`` returns once the flow's backlog is down to ``send_buffer`` bytes.

Everything is ordered by creation sequence numbers, never by hashing or identity, so a run is
reproducible when trio's scheduling is (see torrentish.swarm.runner_sim).
"""

from __future__ import annotations

import errno
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from functools import partial

import trio

from torrentish.net.base import ConnectionHandler, DatagramNetwork, Network
from torrentish.net.sim_datagram import SimDatagramSocket

INF = math.inf
_DATA, _EOF, _HOLD, _CALL = 0, 1, 2, 3


@dataclass
class SimConfig:
    quantum: float = 0.01  # seconds per scheduling tick
    small_bytes: int = 4096  # a flow holding no more than this is sent whole, outside the sharing
    send_buffer: int = 256 * 1024  # send_all returns once the backlog is at most this
    rx_lowat: int = 0  # wake a reader once this many bytes wait (0: on every arrival)
    rx_hold: float = 0.02  # ... or once the oldest waiting byte is this old
    datagram_loss: float = 0.0  # probability that a datagram is lost (net/sim_datagram.py)
    datagram_seed: int = 0


class _Flow:
    """One direction of a connection: backlog at the sender, bytes in flight, bytes at the receiver."""

    __slots__ = ("seq", "src", "dst", "latency", "backlog", "backlog_bytes", "head", "credit",
                 "fin", "rx", "rx_bytes", "rx_eof", "rx_waiter", "rx_held",
                 "send_waiter", "reset", "rate", "last_arrival")

    def __init__(self, seq: int, src: SimNode, dst: SimNode):
        self.seq = seq
        self.src = src
        self.dst = dst
        self.latency = src.latency + dst.latency
        self.backlog: deque[bytes] = deque()
        self.backlog_bytes = 0
        self.head = 0  # bytes of backlog[0] already sent
        self.credit = 0.0  # fractional bytes earned but not yet sent
        self.fin = False  # the sender closed: EOF follows the backlog
        self.rx: deque[bytes] = deque()
        self.rx_bytes = 0
        self.rx_eof = False
        self.rx_waiter: trio.lowlevel.Task | None = None  # the reader parked for bytes
        self.rx_held = False  # a hold deadline is pending for data nobody was woken for yet
        self.send_waiter: trio.Event | None = None
        self.reset = False  # the receiver closed: sending fails, the backlog is dropped
        self.rate = 0.0  # bytes/s in the current allocation; 0.0: not a bulk flow
        self.last_arrival = 0.0  # arrivals are kept in order, EOF last

    def take(self, n: int) -> list[memoryview]:
        """Remove n bytes from the front of the backlog (n <= backlog_bytes)."""
        out = []
        self.backlog_bytes -= n
        while n:
            chunk = self.backlog[0]
            available = len(chunk) - self.head
            if n < available:
                out.append(memoryview(chunk)[self.head : self.head + n])
                self.head += n
                return out
            out.append(memoryview(chunk)[self.head :])
            self.backlog.popleft()
            self.head = 0
            n -= available
        return out


class SimNetwork:
    """The fabric: nodes, listeners and the scheduler. Run ``run`` in a nursery, then add nodes."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.nodes: dict[str, SimNode] = {}
        self._listeners: dict[tuple[str, int], tuple[trio.Nursery, ConnectionHandler]] = {}
        self._seq = 0
        self._busy: dict[int, _Flow] = {}  # flows with a backlog, by sequence number
        self._dirty = True  # the bulk set changed: recompute rates
        self._events: list = []  # heap of (time, seq, kind, flow, data)
        self._tick = -1  # number of the last tick run
        self._wakeup: trio.CancelScope | None = None
        self.delivered = 0  # bytes that reached a receiver, all flows
        self.reallocations = 0
        self.ticks = 0
        self.datagram_sockets: dict[tuple[str, int], SimDatagramSocket] = {}
        self.datagram_rng = random.Random(self.config.datagram_seed)

    def add_node(self, host: str, *, up: float = INF, down: float = INF, latency: float = 0.0) -> SimNode:
        if host in self.nodes:
            raise ValueError(f"node {host} exists")
        node = self.nodes[host] = SimNode(self, host, up, down, latency)
        return node

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ----------------------------------------------------------------------- the scheduler
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        quantum = self.config.quantum
        while True:
            deadline = INF
            if self._busy:
                deadline = (self._tick + 1) * quantum
            if self._events:
                deadline = min(deadline, self._events[0][0])
            with trio.CancelScope(deadline=deadline) as scope:
                self._wakeup = scope
                await trio.sleep_forever()
            self._wakeup = None
            now = trio.current_time()
            self._deliver(now)
            tick = math.floor(now / quantum + 1e-9)
            if self._busy and tick > self._tick:
                self._tick = tick
                self._transmit(tick * quantum)

    def _activate(self, flow: _Flow) -> None:
        """The flow got bytes to send: make sure a tick comes."""
        if flow.seq in self._busy:
            return
        was_idle = not self._busy
        self._busy[flow.seq] = flow
        if was_idle and self._wakeup is not None:  # busy already: the next tick is due anyway
            now = trio.current_time()
            tick = max(self._tick + 1, math.ceil(now / self.config.quantum - 1e-9))
            if tick * self.config.quantum < self._wakeup.deadline:
                self._wakeup.deadline = tick * self.config.quantum

    def _schedule(self, time: float, kind: int, flow: _Flow, data) -> None:
        heapq.heappush(self._events, (time, self._next_seq(), kind, flow, data))
        if self._wakeup is not None and time < self._wakeup.deadline:
            self._wakeup.deadline = time

    def call_at(self, time: float, call) -> None:
        """Run ``call()`` from the scheduler at ``time`` (datagram arrivals)."""
        self._schedule(time, _CALL, None, call)

    def _transmit(self, now: float) -> None:
        small = self.config.small_bytes
        bulk = []
        for flow in list(self._busy.values()):
            if flow.rate == 0.0:  # not in the allocation yet
                if flow.backlog_bytes <= small:
                    self._send(flow, flow.backlog_bytes, now + flow.latency)
                    continue
                self._dirty = True
            bulk.append(flow)
        if self._dirty:
            self._allocate(bulk)
        self.ticks += 1
        quantum = self.config.quantum
        for flow in bulk:
            rate = flow.rate
            if rate == INF:
                self._send(flow, flow.backlog_bytes, now + flow.latency)
                continue
            flow.credit += rate * quantum
            n = min(flow.backlog_bytes, int(flow.credit))
            if n <= 0:
                continue
            flow.credit -= n
            self._send(flow, n, now + n / rate + flow.latency)

    def _send(self, flow: _Flow, n: int, arrival: float) -> None:
        arrival = flow.last_arrival = max(arrival, flow.last_arrival)
        if n:
            flow.src.bytes_up += n
            self._schedule(arrival, _DATA, flow, flow.take(n))
        if not flow.backlog_bytes:
            del self._busy[flow.seq]
            if flow.rate:
                flow.rate = 0.0
                self._dirty = True
            flow.credit = 0.0
            if flow.fin:
                self._schedule(arrival, _EOF, flow, None)
        waiter = flow.send_waiter
        if waiter is not None and flow.backlog_bytes <= self.config.send_buffer:
            flow.send_waiter = None
            waiter.set()

    def _allocate(self, flows: list[_Flow]) -> None:
        """Max-min fair rates: progressive filling over upload and download links."""
        self._dirty = False
        self.reallocations += 1
        # A resource is one direction of one node's access link: (capacity left, unfrozen flows).
        members: dict[tuple[int, int], list[_Flow]] = {}
        capacity: dict[tuple[int, int], float] = {}
        for flow in flows:
            flow.rate = -1.0  # not frozen yet
            for key, cap in (((flow.src.index, 0), flow.src.up), ((flow.dst.index, 1), flow.dst.down)):
                if cap == INF:
                    continue
                if key not in members:
                    members[key] = []
                    capacity[key] = cap
                members[key].append(flow)
        count = {key: len(group) for key, group in members.items()}
        heap = [(capacity[key] / count[key], key, count[key]) for key in members]
        heapq.heapify(heap)
        while heap:
            share, key, n = heapq.heappop(heap)
            if count[key] != n or n == 0:
                continue  # stale entry
            for flow in members[key]:
                if flow.rate >= 0.0:
                    continue
                flow.rate = max(share, 1e-6)
                for other in ((flow.src.index, 0), (flow.dst.index, 1)):
                    if other == key or other not in members:
                        continue
                    capacity[other] -= share
                    count[other] -= 1
                    if count[other]:
                        heapq.heappush(heap, (max(0.0, capacity[other]) / count[other], other, count[other]))
            count[key] = 0
        for flow in flows:
            if flow.rate < 0.0:  # both ends unlimited
                flow.rate = INF

    def _deliver(self, now: float) -> None:
        events = self._events
        touched: dict[int, _Flow] = {}
        while events and events[0][0] <= now:
            _, _, kind, flow, data = heapq.heappop(events)
            if kind == _CALL:
                data()
                continue
            if kind == _DATA:
                if flow.reset:
                    continue
                n = 0
                for view in data:
                    flow.rx.append(view)
                    n += len(view)
                flow.rx_bytes += n
                flow.dst.bytes_down += n
                self.delivered += n
            elif kind == _EOF:
                flow.rx_eof = True
            else:
                flow.rx_held = False
                if flow.rx_waiter is not None and flow.rx_bytes:
                    self._wake_reader(flow)
                continue
            touched[flow.seq] = flow
        config = self.config
        for flow in touched.values():
            if flow.rx_waiter is None:
                continue
            if flow.rx_eof or flow.rx_bytes >= config.rx_lowat:
                self._wake_reader(flow)
            elif not flow.rx_held:
                flow.rx_held = True
                self._schedule(now + config.rx_hold, _HOLD, flow, None)

    @staticmethod
    def _wake_reader(flow: _Flow) -> None:
        task = flow.rx_waiter
        if task is not None:
            flow.rx_waiter = None
            trio.lowlevel.reschedule(task)

    # --------------------------------------------------------------------- connections
    def _open_pair(self, a: SimNode, b: SimNode) -> tuple[SimStream, SimStream]:
        ab = _Flow(self._next_seq(), a, b)
        ba = _Flow(self._next_seq(), b, a)
        return SimStream(self, ab, ba), SimStream(self, ba, ab)

    def _enqueue_all(self, flow: _Flow, buffers: list) -> None:
        if not buffers:
            return
        backlog = flow.backlog
        for data in buffers:
            backlog.append(data)
            flow.backlog_bytes += len(data)
        self._activate(flow)

    def _close_sending(self, flow: _Flow) -> None:
        """FIN: the receiver sees EOF after the bytes already queued."""
        if flow.fin:
            return
        flow.fin = True
        if not flow.backlog_bytes and flow.seq not in self._busy:
            arrival = max(trio.current_time() + flow.latency, flow.last_arrival)
            self._schedule(arrival, _EOF, flow, None)

    def _reset_receiving(self, flow: _Flow) -> None:
        """Our side stopped reading: the other side's sends fail from now on."""
        flow.reset = True
        flow.rx.clear()
        flow.rx_bytes = 0
        if flow.backlog_bytes:
            flow.backlog.clear()
            flow.backlog_bytes = 0
            flow.head = 0
            self._busy.pop(flow.seq, None)
            if flow.rate:
                flow.rate = 0.0
                self._dirty = True
        waiter = flow.send_waiter
        if waiter is not None:
            flow.send_waiter = None
            waiter.set()


class SimNode(Network, DatagramNetwork):
    """One host on the simulated network; implements the engine's Network seam."""

    def __init__(self, network: SimNetwork, host: str, up: float, down: float, latency: float):
        self.network = network
        self.host = host
        self.index = len(network.nodes)
        self.up = float(up) if up else INF
        self.down = float(down) if down else INF
        self.latency = latency
        self.bytes_up = 0  # bytes put on the wire, protocol overhead included
        self.bytes_down = 0
        self._next_port = 40000

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        net = self.network
        remote = net.nodes.get(host)
        one_way = self.latency + (remote.latency if remote else 0.0)
        await trio.sleep(one_way)  # SYN
        listener = net._listeners.get((host, port))
        if remote is None or listener is None:
            await trio.sleep(one_way)
            raise OSError(errno.ECONNREFUSED, f"connection to {host}:{port} refused")
        ours, theirs = net._open_pair(self, remote)
        self._next_port += 1
        nursery, handler = listener
        nursery.start_soon(handler, theirs, (self.host, self._next_port))
        try:
            await trio.sleep(one_way)  # SYN-ACK
        except BaseException:
            ours.close_now()
            raise
        return ours

    async def open_datagram(self, host: str, port: int) -> SimDatagramSocket:
        """A datagram port on this node (``host`` is ignored); port 0 picks a free one."""
        sockets = self.network.datagram_sockets
        if port and (self.host, port) in sockets:
            raise OSError(errno.EADDRINUSE, f"port {port} is taken")
        while not port or (self.host, port) in sockets:
            self._next_port += 1
            port = self._next_port
        sock = sockets[(self.host, port)] = SimDatagramSocket(self.network, self, port)
        await trio.lowlevel.checkpoint()
        return sock

    async def serve(self, host: str, port: int, handler: ConnectionHandler, *,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on this node's address (``host`` is ignored: a node has one); port 0 is 6881."""
        port = port or 6881
        while (self.host, port) in self.network._listeners:
            port += 1
        key = (self.host, port)
        async with trio.open_nursery() as nursery:
            self.network._listeners[key] = (nursery, handler)
            try:
                task_status.started(port)
                await trio.sleep_forever()
            finally:
                del self.network._listeners[key]


def _abort_read(flow: _Flow, raise_cancel) -> trio.lowlevel.Abort:
    """A parked reader is cancelled: nobody may reschedule it any more."""
    flow.rx_waiter = None
    return trio.lowlevel.Abort.SUCCEEDED


class SimStream(trio.abc.Stream):
    """One end of a simulated connection."""

    def __init__(self, network: SimNetwork, out: _Flow, into: _Flow):
        self._network = network
        self._out = out
        self._in = into
        self._closed = False
        self._sending = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.send_buffers([bytes(data)] if data else [])

    async def send_buffers(self, buffers: list) -> None:
        """send_all of the buffers in order, without joining them (net.base.send_buffers).

        Views are queued as they are, not copied: the peer writer's blocks are views of its
        read cache, which reuses a piece's buffer only once no view of it is left
        (engine/pieces.py), so a backlog of them costs no memory of its own; in a large swarm
        copies of queued blocks were the largest share of it. A bytearray (the writer's
        outbox of control messages) is copied, as its owner may reuse it."""
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        flow = self._out
        if flow.reset:
            raise trio.BrokenResourceError("connection reset by peer")
        if buffers:
            self._network._enqueue_all(flow, [bytes(b) if type(b) is bytearray else b for b in buffers if len(b)])
        if flow.backlog_bytes <= self._network.config.send_buffer:
            await trio.lowlevel.checkpoint()
            return
        self._sending = True
        try:
            waiter = flow.send_waiter = trio.Event()
            await waiter.wait()
        finally:
            self._sending = False
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        if flow.reset:
            raise trio.BrokenResourceError("connection reset by peer")

    async def wait_send_all_might_not_block(self) -> None:
        flow = self._out
        while flow.backlog_bytes > self._network.config.send_buffer and not flow.reset:
            waiter = flow.send_waiter = flow.send_waiter or trio.Event()
            await waiter.wait()
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        flow = self._in
        waited = False
        while not (self._closed or flow.rx_bytes or flow.rx_eof):
            # Parked by hand, not on a trio.Event: a reader waits for nearly every message
            # of a large swarm, and an Event (with its parking lot) per wait is a fair part
            # of that cost. What an Event would do, no more: the waker reschedules us.
            flow.rx_waiter = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(partial(_abort_read, flow))
            waited = True
        if not waited:
            await trio.lowlevel.checkpoint()
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        if not flow.rx_bytes:
            return b""
        limit = flow.rx_bytes if max_bytes is None else min(max_bytes, flow.rx_bytes)
        parts = []
        taken = 0
        while taken < limit:
            chunk = flow.rx[0]
            if taken + len(chunk) <= limit:
                parts.append(flow.rx.popleft())
                taken += len(chunk)
            else:
                cut = limit - taken
                parts.append(chunk[:cut])
                flow.rx[0] = chunk[cut:]
                taken = limit
        flow.rx_bytes -= taken
        return b"".join(parts)

    def close_now(self) -> None:
        """Close without a checkpoint (safe in finally blocks and cancelled code)."""
        if self._closed:
            return
        self._closed = True
        self._network._close_sending(self._out)
        self._network._reset_receiving(self._in)
        SimNetwork._wake_reader(self._in)
        waiter = self._out.send_waiter
        if waiter is not None:
            self._out.send_waiter = None
            waiter.set()

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()
