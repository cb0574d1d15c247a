"""One uTP connection as a sans-I/O state machine: packets and ``now`` in, datagrams and data out.

The driver (net/utp.py) feeds decoded packets with ``receive(packet, now)``, hands application
bytes to ``write`` and takes them from ``read``, calls ``on_timer(now)`` at ``deadline()`` and, after
each batch of work, sends what ``flush(now)`` returns. Nothing here sleeps, reads a clock or
touches a socket; randomness (the first sequence number of an accepted connection, connection ids)
comes from the caller.

Congestion control is injected (``congestion``: an object with ``cwnd``, ``add_delay_sample``,
``on_ack``, ``on_loss``, ``on_timeout``; core.ledbat.Ledbat in practice), so this layer does not
depend on core/.

Reliability, as in libutp and libtorrent:
- every packet carries the cumulative ack (``ack_nr``) and, when packets arrived out of order, a
  selective ack; every data packet is acknowledged (one STATE per flush, not per packet);
- round-trip time by Jacobson/Karels on packets sent once (Karn); RTO = rtt + 4 * rtt_var, at least
  ``min_rto`` (500 ms, libtorrent's utp_min_timeout); doubled on each timeout;
- fast retransmit: three duplicate acks, or a selective ack showing three later packets arrived;
  the window is halved at most once per window of data (``loss_seq``);
- a timeout cuts the window to one packet and resends from the oldest packet; a packet sent
  ``data_resends`` + 1 times without an ack (``syn_resends`` + 1 for the SYN) fails the connection;
- receive window: what we advertise is our receive buffer minus what the application has not read
  (receiving.py, the receiving half); the peer's window bounds what we send beside cwnd, and while
  it is shut one packet goes out per RTO as a probe;
- FIN carries a sequence number; the stream ends once every byte before it arrived; RESET kills.
"""

from __future__ import annotations

from dataclasses import dataclass

from torrentish.wire.utp.packet import (
    SEQ_MASK, ST_DATA, ST_FIN, ST_RESET, ST_STATE, ST_SYN, TS_MASK, Packet, encode_header, sack_bits,
    seq_distance,
)
from torrentish.wire.utp.receiving import Receiving

SYN_SENT, SYN_RECV, CONNECTED, CLOSED, RESET, FAILED = "syn-sent", "syn-recv", "connected", "closed", "reset", "failed"
_DONE = (CLOSED, RESET, FAILED)


@dataclass
class UtpConfig:
    payload_size: int = 1400  # fits a 1500-byte path: 20 IP + 8 UDP + 20 uTP + sack room
    recv_buffer: int = 1024 * 1024  # advertised receive window
    send_buffer: int = 1024 * 1024  # bytes ``write`` takes beyond those in flight
    initial_rto: float = 1.0
    min_rto: float = 0.5
    max_rto: float = 30.0
    syn_resends: int = 2
    data_resends: int = 5
    keepalive: float = 29.0  # libutp KEEPALIVE_INTERVAL: NAT bindings outlive it
    reorder_limit: int = 4096  # out-of-order packets kept at most (also bounded by recv_buffer)


class _Outgoing:
    __slots__ = ("seq", "type", "payload", "sent_at", "transmissions", "need_resend", "fast")

    def __init__(self, seq: int, type_: int, payload: bytes):
        self.seq = seq
        self.type = type_
        self.payload = payload
        self.sent_at = 0.0
        self.transmissions = 0
        self.need_resend = True  # not sent yet counts as "to send"
        self.fast = False  # resend now, outside the window (fast retransmit)


def _micros(now: float) -> int:
    return int(now * 1_000_000) & TS_MASK


class UtpConnection(Receiving):
    def __init__(self, congestion, config: UtpConfig, recv_id: int, send_id: int, seq: int,
                 state: str, now: float):
        self.cc = congestion
        self.config = config
        self.recv_id = recv_id
        self.send_id = send_id
        self.state = state
        self.seq_nr = seq  # next sequence number to use
        self.ack_nr = 0  # last packet received in order
        self.acked_through = (seq - 1) & SEQ_MASK  # every packet up to here is acknowledged
        self.inflight: dict[int, _Outgoing] = {}  # unacknowledged packets, oldest first
        self.resends = 0  # packets in the flight marked need_resend
        self.cur_window = 0  # payload bytes in flight (not counting packets waiting to be resent)
        self.send_queue = bytearray()
        self.inbox = bytearray()
        self.reorder: dict[int, tuple[int, bytes]] = {}
        self.reorder_bytes = 0
        self.peer_wnd = config.recv_buffer
        self.reply_micro = 0
        self.rtt = 0.0
        self.rtt_var = 0.0
        self.rto = config.initial_rto
        self.rto_deadline: float | None = None
        self.last_ack_seen = self.acked_through
        self.dup_acks = 0
        self.loss_seq: int | None = None
        self.fin_pending = False
        self.fin_sent = False
        self.eof_seq: int | None = None
        self.eof = False  # the peer's FIN arrived and every byte before it
        self.need_ack = False
        self.last_send = now
        self.probe_at: float | None = None  # when to probe a receive window that is shut
        self.error: str | None = None
        self.resent = 0  # packets retransmitted (statistics)
        self._advertised = config.recv_buffer

    # ------------------------------------------------------------------ opening
    @classmethod
    def initiate(cls, congestion, recv_id: int, now: float, config: UtpConfig | None = None) -> UtpConnection:
        """Active open: the SYN goes out on the first ``flush``. ``recv_id`` is random (the caller's)."""
        config = config or UtpConfig()
        conn = cls(congestion, config, recv_id & SEQ_MASK, (recv_id + 1) & SEQ_MASK, 1, SYN_SENT, now)
        conn._queue_packet(ST_SYN, b"")
        return conn

    @classmethod
    def accept(cls, congestion, syn: Packet, seq: int, now: float, config: UtpConfig | None = None) -> UtpConnection:
        """Passive open from a SYN; ``seq`` is our random first sequence number."""
        config = config or UtpConfig()
        conn = cls(congestion, config, (syn.conn_id + 1) & SEQ_MASK, syn.conn_id, seq & SEQ_MASK, SYN_RECV, now)
        conn.ack_nr = syn.seq
        conn.peer_wnd = syn.wnd
        conn.reply_micro = (_micros(now) - syn.timestamp) & TS_MASK
        conn.need_ack = True
        return conn

    # ------------------------------------------------------------------ application side
    @property
    def done(self) -> bool:
        return self.state in _DONE

    @property
    def connected(self) -> bool:
        return self.state in (CONNECTED, SYN_RECV)

    def send_space(self) -> int:
        return max(0, self.config.send_buffer - len(self.send_queue))

    def write(self, data) -> int:
        """Queue what fits of ``data``; returns how many bytes were taken."""
        if self.fin_pending or self.done:
            raise ValueError("write after close")
        n = min(len(data), self.send_space())
        if n:
            self.send_queue += data[:n] if n < len(data) else data
        return n

    def all_sent(self) -> bool:
        """Everything written has been acknowledged."""
        return not self.send_queue and not any(p.type == ST_DATA for p in self.inflight.values())

    def close(self) -> None:
        """Send FIN after the queued bytes."""
        if not self.done:
            self.fin_pending = True

    def abort(self, now: float) -> list[bytes]:
        """RESET the connection; returns the datagram to send."""
        if self.done:
            return []
        self.state = RESET
        self.error = self.error or "connection aborted"
        return [encode_header(ST_RESET, self.send_id, _micros(now), self.reply_micro, 0, self.seq_nr, self.ack_nr)]

    # ------------------------------------------------------------------ packets in
    def receive(self, packet: Packet, now: float) -> None:
        if self.state == CLOSED and packet.type in (ST_DATA, ST_FIN):
            self.need_ack = True  # our last ack got lost: the peer resends its FIN
            return
        if self.done:
            return
        if packet.timestamp:
            self.reply_micro = (_micros(now) - packet.timestamp) & TS_MASK
        type_ = packet.type
        if type_ == ST_RESET:
            self.state = RESET
            self.error = "connection reset by peer"
            return
        if type_ == ST_SYN:
            if self.state == SYN_RECV and packet.seq == self.ack_nr:
                self.need_ack = True  # our STATE got lost: the peer asks again
            return
        if self.state == SYN_SENT:
            if packet.ack != (self.acked_through + 1) & SEQ_MASK:
                return
            # The syn-ack is a STATE with the peer's first seq_nr (a STATE uses none); a DATA or
            # FIN acking our SYN (the STATE got lost) opens the connection too.
            self.state = CONNECTED
            self.ack_nr = (packet.seq - 1) & SEQ_MASK
        self.peer_wnd = packet.wnd
        if not self._process_ack(packet, now):
            return
        if type_ == ST_DATA or type_ == ST_FIN:
            if self.state == SYN_RECV:
                self.state = CONNECTED
            self._process_data(packet)
        self._check_closed()

    def _process_ack(self, packet: Packet, now: float) -> bool:
        ack = packet.ack
        in_flight = seq_distance(self.acked_through, (self.seq_nr - 1) & SEQ_MASK)
        newly = seq_distance(self.acked_through, ack)
        if newly > in_flight:
            return False  # acks a packet we never sent: ignore the whole packet (libutp does)
        inflight = self.inflight
        acked_bytes = 0
        sample_packet = None
        was_limited = self.cur_window + self.config.payload_size > self._send_window()
        for i in range(newly):
            seq = (self.acked_through + 1 + i) & SEQ_MASK
            out = inflight.pop(seq, None)
            if out is not None:
                acked_bytes += self._acked(out)
                sample_packet = out
        if newly:
            self.acked_through = ack
            self.dup_acks = 0
        lost_by_sack = []
        if packet.sack is not None and inflight:
            base = (ack + 2) & SEQ_MASK
            sacked = [(base + i) & SEQ_MASK for i in sack_bits(packet.sack)]
            for seq in sacked:
                out = inflight.pop(seq, None)
                if out is not None:
                    acked_bytes += self._acked(out)
                    sample_packet = out
            if len(sacked) >= 3:
                # Unacked packets with 3 or more sacked packets after them are lost.
                third_last = sacked[-3]
                for seq, out in inflight.items():
                    if seq_distance(ack, seq) >= seq_distance(ack, third_last):
                        break
                    lost_by_sack.append(out)
        if not newly and packet.type == ST_STATE and not packet.payload and inflight:
            if ack == self.last_ack_seen:
                self.dup_acks += 1
                if self.dup_acks == 3:
                    first = inflight.get((ack + 1) & SEQ_MASK)
                    if first is not None:
                        lost_by_sack.append(first)
        self.last_ack_seen = ack
        if sample_packet is not None and sample_packet.transmissions == 1:
            self._rtt_sample(now - sample_packet.sent_at)
        if acked_bytes:
            if packet.timestamp_diff:
                self.cc.add_delay_sample(packet.timestamp_diff, now)
            self.cc.on_ack(acked_bytes, was_limited)
        lost = [out for out in lost_by_sack if not out.fast and not out.need_resend]
        if lost:
            if self.loss_seq is None or seq_distance(self.loss_seq, ack) < 0x8000:
                self.cc.on_loss()
                self.loss_seq = self.seq_nr
            for out in lost:
                if out.need_resend:
                    continue  # named twice (by the selective ack and by duplicate acks)
                out.fast = True
                out.need_resend = True
                self.resends += 1
                self.cur_window -= len(out.payload)
        if newly or acked_bytes:
            self.rto_deadline = now + self.rto if inflight else None
        return True

    def _acked(self, out: _Outgoing) -> int:
        if out.need_resend:
            self.resends -= 1
            return 0  # was not counted in the window
        self.cur_window -= len(out.payload)
        return len(out.payload) or 1

    def _rtt_sample(self, sample: float) -> None:
        if self.rtt == 0.0:
            self.rtt = sample
            self.rtt_var = sample / 2
        else:
            self.rtt_var += (abs(self.rtt - sample) - self.rtt_var) / 4
            self.rtt += (sample - self.rtt) / 8
        config = self.config
        self.rto = min(config.max_rto, max(config.min_rto, self.rtt + 4 * self.rtt_var))

    def _check_closed(self) -> None:
        if self.eof and self.fin_sent and not self.inflight:
            self.state = CLOSED

    # ------------------------------------------------------------------ timers
    def deadline(self) -> float | None:
        if self.done:
            return None
        times = [self.last_send + self.config.keepalive]
        if self.rto_deadline is not None:
            times.append(self.rto_deadline)
        if self.probe_at is not None:
            times.append(self.probe_at)
        return min(times)

    def on_timer(self, now: float) -> None:
        if self.done:
            return
        if self.rto_deadline is not None and now >= self.rto_deadline and self.inflight:
            oldest = next(iter(self.inflight.values()))
            limit = self.config.syn_resends if oldest.type == ST_SYN else self.config.data_resends
            if oldest.transmissions > limit:
                self.state = FAILED
                self.error = "connection timed out"
                return
            if oldest.type != ST_SYN:
                self.cc.on_timeout()
                self.loss_seq = self.seq_nr
            for out in self.inflight.values():
                if not out.need_resend:
                    out.need_resend = True
                    self.resends += 1
                    self.cur_window -= len(out.payload)
            oldest.fast = True  # the oldest goes out at once, the rest as the window allows
            self.rto = min(self.config.max_rto, self.rto * 2)
            self.rto_deadline = now + self.rto
        if now >= self.last_send + self.config.keepalive and self.state != SYN_SENT:
            self.need_ack = True

    # ------------------------------------------------------------------ packets out
    def _may_send(self, n: int, window: int, probe: bool) -> bool:
        if self.cur_window + n <= window:
            return True
        # Nothing in flight: one packet may go when only cwnd is short of it (a tiny window must
        # not stall), or as a probe of a shut receive window once its timer ran out.
        return not self.cur_window and (self.peer_wnd >= n or probe)

    def _send_window(self) -> int:
        return min(int(self.cc.cwnd), self.peer_wnd)

    def _queue_packet(self, type_: int, payload: bytes) -> _Outgoing:
        out = _Outgoing(self.seq_nr, type_, payload)
        self.resends += 1  # sent by the flush that queued it (the SYN by the first flush)
        self.inflight[self.seq_nr] = out
        self.seq_nr = (self.seq_nr + 1) & SEQ_MASK
        return out

    def flush(self, now: float) -> list[bytes]:
        """The datagrams to send now: resends, new data within the window, FIN, acks."""
        if self.state == CLOSED and self.need_ack:
            self.need_ack = False
            return [encode_header(ST_STATE, self.send_id, _micros(now), self.reply_micro,
                                  self._window(), self.seq_nr, self.ack_nr)]
        if self.done:
            return []
        out: list[bytes] = []
        ts = _micros(now)
        wnd = self._advertised = self._window()
        sack = self._sack()
        header = encode_header
        send_id, ack_nr, reply = self.send_id, self.ack_nr, self.reply_micro
        window = self._send_window()
        size = self.config.payload_size

        def emit(packet: _Outgoing) -> None:
            if packet.transmissions:
                self.resent += 1
            packet.transmissions += 1
            packet.sent_at = now
            if packet.need_resend:
                self.resends -= 1
            packet.need_resend = packet.fast = False
            self.cur_window += len(packet.payload)
            out.append(header(packet.type, self.recv_id if packet.type == ST_SYN else send_id, ts,
                              reply, wnd, packet.seq, ack_nr, sack) + packet.payload)

        if self.state == SYN_RECV:
            # Nothing but acks until the initiator's first data arrives (libutp's rule): a peer
            # that lost our syn-ack would drop our data anyway.
            pass
        elif self.state == SYN_SENT:
            for packet in self.inflight.values():
                if packet.need_resend:
                    emit(packet)
        else:
            waiting = False
            # Walk the flight only when something in it waits to be resent (the usual flush has
            # nothing to resend, and the flight can be thousands of packets).
            for packet in (self.inflight.values() if self.resends else ()):
                if not packet.need_resend:
                    continue
                if packet.fast or not self.cur_window or self.cur_window + len(packet.payload) <= window:
                    emit(packet)
                else:
                    waiting = True
            queue = self.send_queue
            probe = self.probe_at is not None and now >= self.probe_at
            while queue and not waiting and self._may_send(min(size, len(queue)), window, probe):
                probe = False
                self.probe_at = None
                if len(queue) <= size:
                    payload = bytes(queue)
                    queue.clear()
                else:
                    payload = bytes(queue[:size])
                    del queue[:size]
                emit(self._queue_packet(ST_DATA, payload))
            if queue and not self.cur_window and self.probe_at is None:
                self.probe_at = now + self.rto  # the peer's window is shut: ask again later
            if self.fin_pending and not self.fin_sent and not queue:
                self.fin_sent = True
                emit(self._queue_packet(ST_FIN, b""))
        if out:
            if self.rto_deadline is None:
                self.rto_deadline = now + self.rto
        elif self.need_ack:
            out.append(header(ST_STATE, send_id, ts, reply, wnd, self.seq_nr, ack_nr, sack))
        if out:
            self.need_ack = False
            self.last_send = now
        self._check_closed()
        return out
