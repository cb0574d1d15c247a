"""Fixtures shared by the whole test suite.

- ``require_tool(name)``: the reference tool (executable path or module), skipping the test locally
  and failing it in CI (``CI`` set) when the tool is missing. Importable from ``tests.support``.
- ``port_factory``: a callable giving a fresh free TCP port on 127.0.0.1 on every call.
- ``logs``: a directory for the logs of the processes a test runs (inside ``tmp_path``).
- ``tracker``: a running test tracker (tests.support.tracker), closed after the test.
- Hypothesis runs without its per-example deadline (a timing check, which would flake under load).

Tests send traffic only to loopback or to namespaces they create: every torrentish process a test
starts inherits TORRENTISH_LSD=0, TORRENTISH_DHT=0 and TORRENTISH_PORT_MAPPING=0 (no multicast on
the host's interfaces, no public DHT routers, nothing sent to the host's gateway), its own state
and config dirs, and tests that exercise LSD, the DHT or port mapping turn them on explicitly
(inside namespaces they build, or with local bootstrap nodes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import settings

from tests.support import free_port, require_tool
from tests.support.tracker import Tracker

__all__ = ["require_tool"]

# --matrix-report=FILE: the interop matrix cells' outcomes as JSON (docs/interop.md).
pytest_plugins = ["tests.support.matrix_report"]

# Hypothesis's default 200 ms per example measures the machine, not the code: on a loaded CI
# machine a slow example is no bug, and a flaky failure hides real ones. Speed is for bench/.
settings.register_profile("torrentish", deadline=None)
settings.load_profile("torrentish")


@pytest.fixture(autouse=True, scope="session")
def _contained_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("torrentish-home")
    contained = {
        "TORRENTISH_LSD": "0",
        "TORRENTISH_DHT": "0",
        "TORRENTISH_PORT_MAPPING": "0",
        "TORRENTISH_STATE_DIR": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    saved = {name: os.environ.get(name) for name in contained}
    os.environ.update(contained)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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
