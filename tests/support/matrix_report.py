"""pytest plugin: ``--matrix-report=FILE`` writes the outcome of every interop-matrix cell as JSON.

A cell is a test marked with tests.support.matrix.cell(...). The report lists, per test id, its
cell and its outcome (passed / failed / skipped; a failure in setup or teardown counts as failed),
so scripts/interop_matrix.py can fill docs/interop.md from a CI run. Without the option nothing
is written.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

_RANK = {"passed": 0, "skipped": 1, "failed": 2}  # a test's outcome is its worst phase's


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--matrix-report", metavar="FILE", default=None,
                     help="write the interop matrix cells' outcomes to FILE (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_cells] = {}


_cells = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    marker = item.get_closest_marker("matrix")
    if marker is None or (report.when != "call" and report.outcome == "passed"):
        return report
    cells = item.config.stash[_cells]
    where = dict(marker.kwargs)
    if where["client"].startswith("param:"):
        where["client"] = item.callspec.params[where["client"].removeprefix("param:")]
    entry = cells.setdefault(item.nodeid, {**where, "outcome": "passed", "duration": 0.0})
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
