"""pytest plugin: ``--matrix-report=FILE`` writes every interop-matrix cell's outcome as JSON.

A cell is a test marked with tests.support.matrix.cell(...). The report lists, per collected test
id, its cell and its outcome: passed / failed / skipped (a failure in setup or teardown counts as
failed), or "not run" (collected but not run: ``--collect-only``, ``-x``), so
scripts/interop_matrix.py can fill docs/interop.md from a CI run. Without the option nothing is
written.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

NOT_RUN = "not run"
_RANK = {NOT_RUN: -1, "passed": 0, "skipped": 1, "failed": 2}  # a test's outcome is its worst phase's
_cells = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--matrix-report", metavar="FILE", default=None,
                     help="write the interop matrix cells' outcomes to FILE (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_cells] = {}


def where(item: pytest.Item) -> dict | None:
    """The cell ``item`` claims, with a ``param:NAME`` client read from its parameters."""
    marker = item.get_closest_marker("matrix")
    if marker is None:
        return None
    cell = dict(marker.kwargs)
    if cell["client"].startswith("param:"):
        cell["client"] = item.callspec.params[cell["client"].removeprefix("param:")]
    return cell


def pytest_collection_finish(session: pytest.Session) -> None:
    cells = session.config.stash[_cells]
    for item in session.items:
        if (cell := where(item)) is not None:
            cells[item.nodeid] = {**cell, "outcome": NOT_RUN, "duration": 0.0}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    entry = item.config.stash[_cells].get(item.nodeid)
    if entry is None or (report.when != "call" and report.outcome == "passed"):
        return report
    if _RANK[report.outcome] > _RANK[entry["outcome"]]:
        entry["outcome"] = report.outcome
    entry["duration"] = round(entry["duration"] + report.duration, 2)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--matrix-report")
    if not target:
        return
    tests = [{"id": nodeid, **entry} for nodeid, entry in sorted(session.config.stash[_cells].items())]
    report = {"python": platform.python_version(), "tests": tests}
    Path(target).write_text(json.dumps(report, indent=1) + "\n")
