"""The interop matrix's bookkeeping: every cell is a test or has a reason, and the table renders.

The cells themselves run in tests/test_interop*.py; this only collects them (no client runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.matrix import CLIENTS, DIRECTIONS, FEATURES, Feature, unclaimed_reason

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import interop_matrix  # noqa: E402


def collected_cells(tmp_path: Path) -> list[dict]:
    """The cells the interop modules claim, as --matrix-report records them (not run)."""
    report = tmp_path / "cells.json"
    modules = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("test_interop*.py"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "-m", "matrix", f"--matrix-report={report}", *modules],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(report.read_text())["tests"]


def test_every_cell_is_a_test_or_has_a_reason(tmp_path):
    tests = collected_cells(tmp_path)
    assert tests and all(test["outcome"] == "not run" for test in tests)
    claimed = {(t["client"], t["feature"], t["direction"]) for t in tests}
    for client in CLIENTS:
        for feature in FEATURES:
            for direction in DIRECTIONS:
                key = (client, feature.key, direction)
                reason = unclaimed_reason(*key)
                assert not (key in claimed and reason), f"{key} has tests, yet it says: {reason}"
                assert key in claimed or reason or feature.pending, f"{key}: no test and no reason"
    # Both daemons' cells come from one test each (the client is the test's parameter).
    assert {t["client"] for t in tests if "test_interop_daemons" in t["id"]} == {"transmission", "qbittorrent"}


def report_of(*cells: tuple[str, str, str, str]) -> dict:
    return {"tests": [{"id": f"t{i}", "client": c, "feature": f, "direction": d, "outcome": o}
                      for i, (c, f, d, o) in enumerate(cells)]}


def row(table: str, title: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {title} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_a_cell_passes_only_when_all_its_tests_passed():
    table = interop_matrix.render(report_of(
        ("aria2", "tcp-single", "to", "passed"), ("aria2", "tcp-single", "from", "passed"),
        ("aria2", "tcp-single", "from", "failed"), ("libtorrent", "tcp-single", "to", "skipped"),
        ("libtorrent", "tcp-single", "from", "not run")))
    assert row(table, "TCP, v1, single file")[:5] == ["pass", "**FAIL**", "skipped", "not run", "not run"]


def test_pending_features_and_reasons_are_shown(monkeypatch):
    # No feature is pending today: a made-up one stands for the next column to come.
    monkeypatch.setattr(interop_matrix, "FEATURES", (*FEATURES, Feature("next", "next feature", pending=True)))
    table = interop_matrix.render(report_of(("libtorrent", "utp", "to", "passed")))
    assert set(row(table, "next feature")) == {"pending"}
    utp = row(table, "uTP (BEP 29)")
    assert utp[0].startswith("– [") and utp[2:4] == ["pass", "not run"]  # aria2 has no uTP
    number = utp[0].removeprefix("– ")
    assert f"{number} not supported by the client (aria2 has no uTP)" in table


def test_the_generator_replaces_only_the_marked_section(tmp_path):
    doc = tmp_path / "interop.md"
    doc.write_text(f"# head\n{interop_matrix.BEGIN}\nold table\n{interop_matrix.END}\ntail\n")
    report = tmp_path / "report.json"
    report.write_text(json.dumps(report_of(("qbittorrent", "magnet", "to", "passed"))))
    assert interop_matrix.main([str(report), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# head\n") and text.endswith(f"{interop_matrix.END}\ntail\n")
    assert "old table" not in text and row(text, "magnet link + metadata (BEP 9)")[6] == "pass"
    doc.write_text("no section here\n")
    assert interop_matrix.main([str(report), "--doc", str(doc)]) == 1
