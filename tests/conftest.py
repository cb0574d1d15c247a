"""Fixtures shared by the whole test suite.

- ``require_tool(name)``: the reference tool (executable path or module), skipping the test locally
  and failing it in CI (``CI`` set) when the tool is missing. Importable from ``tests.support``.
- ``port_factory``: a callable giving a fresh free TCP port on 127.0.0.1 on every call.
- ``logs``: a directory for the logs of the processes a test runs (inside ``tmp_path``).
- ``tracker``: a running test tracker (tests.support.tracker), closed after the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support import free_port, require_tool
from tests.support.tracker import Tracker

__all__ = ["require_tool"]


@pytest.fixture
def port_factory() -> Callable[[], int]:
    """Call it for a free port on 127.0.0.1; never the same port twice within one test."""
    handed_out: set[int] = set()

    def next_port() -> int:
        while (port := free_port()) in handed_out:
            pass
        handed_out.add(port)
        return port

    return next_port


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Where a test's child processes write their logs (kept by pytest's tmp_path retention)."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    """A test tracker serving on 127.0.0.1 for the duration of the test."""
    with Tracker() as running:
        yield running
