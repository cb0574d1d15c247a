"""Tunable knobs of the engine, with the defaults a user gets."""

from __future__ import annotations

from dataclasses import dataclass

ENCRYPTION_POLICIES = ("prefer", "require", "off")  # Settings.encryption (engine/encryption.py)
TRANSPORTS = ("both", "utp", "tcp")  # Settings.transport (net/transports.py)


@dataclass
class Settings:
    # Connections
    max_connections: int = 200  # across all torrents
    max_peers_per_torrent: int = 50
    handshake_timeout: float = 10.0
    idle_timeout: float = 150.0  # nothing at all received for this long: drop
    keepalive_interval: float = 60.0
    reconnect_backoff: tuple[float, float] = (1.0, 60.0)  # first retry, cap
    # Message Stream Encryption (engine/encryption.py): "prefer" (dial encrypted, fall back to
    # plaintext, accept both), "require" (RC4 only, both ways) or "off" (plaintext; never RC4).
    encryption: str = "prefer"
    # Peer transports: "both" (dial uTP first, then TCP; listen on both), "utp" or "tcp" only.
    # "both" as in the commands and other clients. Under trio's autojumping mock clock with real
    # sockets uTP works too: trio polls the sockets before it jumps, so a datagram already in a
    # socket buffer is read before a retransmission timer can fire (tests/test_engine.py runs so).
    transport: str = "both"

    # Requests we make
    min_pipeline: int = 8  # outstanding 16 KiB requests per peer at the least
    max_pipeline: int = 512  # and at the most (still bounded by the peer's reqq)
    pipeline_seconds: float = 1.0  # keep this much of a peer's rate in flight
    snub_timeout: float = 30.0  # no block for this long while requests are out: snubbed
    # Memory for pieces being assembled (each open piece is buffered until verified).
    assembly_budget: int = 64 * 1024 * 1024

    # Seconds over which newly verified pieces are gathered and announced to each neighbour in
    # one write of HAVEs (engine/have_batch.py); 0: each piece's HAVEs at once. BEP 3 allows the
    # delay; it saves messages in large (simulated) swarms at the cost of neighbours learning
    # of a piece that much later.
    have_interval: float = 0.0

    # Requests others make of us
    max_queued_requests: int = 500  # advertised as reqq; beyond it requests are rejected
    request_flood_limit: int = 2000  # beyond this a peer is dropped

    # Choking (BEP 3)
    upload_slots: int = 4
    rechoke_interval: float = 10.0
    optimistic_every: int = 3
    # An unchoked peer that asked for nothing for this long gives its slot to a waiting peer
    # (core/choker.py idle_slot); 0 (the default): only rechokes and NOT INTERESTED free a slot.
    # Off: in simulation 1 s took <1% off a flash crowd, and on CPU-starved namespaces it did worse.
    idle_slot_seconds: float = 0.0

    # BEP 16 super-seeding for a torrent complete at start (engine/super_seeding.py): reveal pieces
    # one peer at a time so each leaves us about once; strict: the next only once one spread.
    super_seed: bool = False
    super_seed_strict: bool = False

    # Rates in bytes/s; 0 = unlimited
    max_upload_rate: int = 0
    max_download_rate: int = 0

    # Bad peers
    ban_after_failures: int = 2  # hash failures a peer contributed to

    # Resume
    resume_interval: float = 5.0  # seconds between durable saves of completion
    stop_save_timeout: float = 20.0  # at most this long to save resume state when stopping
