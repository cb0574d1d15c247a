"""BEP 10 extensions that plug into a torrent (see torrentish/engine/extensions.py for the seam).

- ``ut_metadata`` (BEP 9): the info dictionary in 16 KiB pieces; we serve ours.
- ``ut_pex`` (BEP 11): the peers we are connected to, once a minute; we learn theirs.

``standard_extensions()`` gives the set a transfer normally runs, with the services they need.
"""

from __future__ import annotations

from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex

__all__ = ["UtMetadata", "UtPex", "standard_extensions"]


def standard_extensions() -> tuple[list, list]:
    """(extensions, services) for transfer.get/seed: serve metadata, exchange peers.

    PEX sends on a timer, so besides being an extension it runs as a service beside the transfer.
    """
    pex = UtPex()
    return [UtMetadata(), pex], [pex.run]
