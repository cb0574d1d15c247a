"""The interop matrix: which client x feature x direction cells exist, and how a test claims one.

A test is a cell of the matrix when it carries ``cell(client, feature, direction)`` (a
``pytest.mark.matrix``); tests.support.matrix_report records the outcome of every such test
(``--matrix-report=FILE``) and scripts/interop_matrix.py turns that record into the table in
docs/interop.md. Cells that no test claims are listed here with the reason (the client cannot do
it, or it has not been tried); a feature torrentish does not have yet is ``pending``. Adding a
column is one line in FEATURES; its cells stay "pending" until tests claim them.

Directions: ``to`` - torrentish serves, the client receives (data or metadata); ``from`` - the
client serves, torrentish receives.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

CLIENTS = ("aria2", "libtorrent", "transmission", "qbittorrent")
DIRECTIONS = ("to", "from")


@dataclass(frozen=True)
class Feature:
    key: str
    title: str
    pending: bool = False  # torrentish cannot do it yet: every cell reads "pending"


FEATURES = (
    Feature("tcp-single", "TCP, v1, single file"),
    Feature("tcp-multi", "TCP, v1, multi-file"),
    Feature("encryption", "encryption required (MSE/PE, RC4)"),
    Feature("magnet", "magnet link + metadata (BEP 9)"),
    Feature("pex", "PEX (ut_pex)"),
    Feature("dht", "DHT, local bootstrap (BEP 5)"),
    Feature("utp", "uTP (BEP 29)"),
    Feature("hybrid", "v1+v2 hybrid torrent (BEP 52)"),
    Feature("v2", "v2-only torrent (BEP 52)"),
)
FEATURE_KEYS = tuple(feature.key for feature in FEATURES)

# Why a cell has no test. "*" stands for both directions.
UNCLAIMED = {
    ("transmission", "dht", "*"): "not run: with 10 nodes of ours in its dht.bootstrap (on a namespace LAN) its DHT "
                                  "was still not ready after 60 s here",
    ("aria2", "pex", "from"): "not seen: aria2 1.36 sent a new peer only empty PEX lists for 100 s here",
    ("qbittorrent", "dht", "*"): "not configurable: qBittorrent 4.5 has no setting for DHT bootstrap nodes",
    ("aria2", "utp", "*"): "not supported by the client (aria2 has no uTP)",
    ("aria2", "v2", "*"): "not supported by the client (aria2 1.36 reads v1 torrents only)",
    ("transmission", "v2", "*"): "not supported by the client (Transmission 3.00 reads v1 torrents only)",
    ("aria2", "hybrid", "*"): "not run yet (aria2 1.36 would use the v1 part)",
    ("transmission", "hybrid", "*"): "not supported by the client (Transmission 3.00 cannot parse the BEP 52 file "
                                     "tree a hybrid carries: \"invalid or corrupt torrent file\", ours and libtorrent's)",
}

# Payload kinds of tests.support.data and the cell each one is.
PAYLOAD_FEATURES = {"single": "tcp-single", "multi": "tcp-multi"}


def cell(client: str, feature: str, direction: str) -> pytest.MarkDecorator:
    """Mark a test as the matrix cell (client, feature, direction).

    ``client="param:NAME"``: the client is the test's parameter NAME (a test run once per client).
    """
    if not client.startswith("param:") and client not in CLIENTS:
        raise ValueError(f"no such matrix client: {client}")
    if feature not in FEATURE_KEYS or direction not in DIRECTIONS:
        raise ValueError(f"no such matrix cell: {client} / {feature} / {direction}")
    return pytest.mark.matrix(client=client, feature=feature, direction=direction)


def payload_cells(client: str, direction: str) -> pytest.MarkDecorator:
    """Parametrize ``payload`` (indirect) over the payload kinds, each kind its TCP cell."""
    params = [pytest.param(kind, marks=cell(client, feature, direction), id=kind)
              for kind, feature in PAYLOAD_FEATURES.items()]
    return pytest.mark.parametrize("payload", params, indirect=True)


# Torrent flavours of tests/test_interop_v2.py and the cell each one is.
FLAVOUR_FEATURES = {"v2_only": "v2", "hybrid": "hybrid"}


def flavour_cells(client: str, direction: str) -> pytest.MarkDecorator:
    """Parametrize ``flavour`` over the BEP 52 flavours, each flavour its cell."""
    params = [pytest.param(flavour, marks=cell(client, feature, direction), id=flavour)
              for flavour, feature in FLAVOUR_FEATURES.items()]
    return pytest.mark.parametrize("flavour", params)


def unclaimed_reason(client: str, feature: str, direction: str) -> str | None:
    return UNCLAIMED.get((client, feature, direction)) or UNCLAIMED.get((client, feature, "*"))
