"""The receiving half of a uTP connection: in-order delivery, the reorder buffer, the window we
advertise and the selective ack we send. A mixin of UtpConnection (connection.py), which holds the
state: ``ack_nr`` (last packet delivered in order), ``inbox`` (bytes the application has not read),
``reorder`` (seq -> (type, payload) that arrived early), ``reorder_bytes``, ``eof_seq`` (the FIN's
seq, once seen), ``eof`` (FIN delivered), ``need_ack``, ``_advertised`` (the window last sent).

Limits against a peer that ignores our window: at most ``reorder_limit`` packets ahead, and never
more than twice ``recv_buffer`` held in all; a packet past them is dropped (the peer resends).
"""

from __future__ import annotations

from torrentish.wire.utp.packet import SEQ_MASK, ST_FIN, Packet, make_sack, seq_distance


class Receiving:
    def read(self, max_bytes: int | None = None) -> bytes:
        inbox = self.inbox
        if max_bytes is None or max_bytes >= len(inbox):
            data = bytes(inbox)
            inbox.clear()
        else:
            data = bytes(inbox[:max_bytes])
            del inbox[:max_bytes]
        # The window was small: tell the peer it opened again (it may be waiting on it).
        if data and self._advertised < self.config.recv_buffer // 2 <= self._window():
            self.need_ack = True
        return data

    def _process_data(self, packet: Packet) -> None:
        self.need_ack = True
        seq = packet.seq
        if self.eof_seq is not None and seq_distance(self.ack_nr, seq) > seq_distance(self.ack_nr, self.eof_seq):
            return  # past the FIN
        distance = seq_distance(self.ack_nr, seq)
        if distance == 0 or distance >= 0x8000:
            return  # a duplicate of something delivered; the ack we send tells the peer
        if packet.type == ST_FIN:
            self.eof_seq = seq
        if distance == 1:
            self._deliver(packet.type, packet.payload)
            self.ack_nr = seq
            reorder = self.reorder
            while reorder:
                nxt = (self.ack_nr + 1) & SEQ_MASK
                held = reorder.pop(nxt, None)
                if held is None:
                    break
                self.reorder_bytes -= len(held[1])
                self._deliver(*held)
                self.ack_nr = nxt
            return
        hard_limit = 2 * self.config.recv_buffer  # a peer ignoring our window still gets no more
        if (seq in self.reorder or distance > self.config.reorder_limit
                or self.reorder_bytes + len(self.inbox) + len(packet.payload) > hard_limit):
            return
        self.reorder[seq] = (packet.type, bytes(packet.payload))
        self.reorder_bytes += len(packet.payload)

    def _deliver(self, type_: int, payload) -> None:
        if type_ == ST_FIN:
            self.eof = True
            self.reorder.clear()
            self.reorder_bytes = 0
        elif not self.eof:
            self.inbox += payload

    def _window(self) -> int:
        return max(0, self.config.recv_buffer - len(self.inbox) - self.reorder_bytes)

    def _sack(self) -> bytes | None:
        if not self.reorder:
            return None
        base = (self.ack_nr + 2) & SEQ_MASK
        offsets = [seq_distance(base, seq) for seq in self.reorder]
        return make_sack(offsets, max(offsets) + 1)
