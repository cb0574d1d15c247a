"""Many torrents in one long-running session (docs/session.md).

    from torrentish.session import SessionConfig, open_session
"""

from torrentish.session.config import SessionConfig
from torrentish.session.session import DuplicateTorrent, Session, open_session

__all__ = ["SessionConfig", "Session", "open_session", "DuplicateTorrent"]
