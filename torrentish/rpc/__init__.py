"""Transmission's RPC in front of a session: protocol, fields and methods (pure where they can
be), the HTTP server and the web client's files (docs/daemon.md)."""
