"""BEP 10 extensions that plug into a torrent (see torrentish/engine/extensions.py for the seam).

- ``ut_metadata`` (BEP 9): the info dictionary in 16 KiB pieces; we serve ours.
- ``ut_pex`` (BEP 11): the peers we are connected to, once a minute; we learn theirs.
- ``ut_holepunch`` (BEP 55): relaying introductions between connected peers, and asking for one
  when a peer cannot be dialed (a simultaneous uTP open gets through both NATs).

``standard_extensions()`` gives the set a transfer normally runs, with the services they need.
"""

from __future__ import annotations

from torrentish.services.extensions.ut_holepunch import UtHolepunch
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex

__all__ = ["UtHolepunch", "UtMetadata", "UtPex", "standard_extensions"]


def standard_extensions() -> tuple[list, list]:
    """(extensions, services) for transfer.get/seed: serve metadata, exchange peers, holepunch.

    PEX sends on a timer and holepunching owns tasks (the punches), so besides being extensions
    they run as services beside the transfer.
    """
    pex, holepunch = UtPex(), UtHolepunch()
    return [UtMetadata(), pex, holepunch], [pex.run, holepunch.run]
