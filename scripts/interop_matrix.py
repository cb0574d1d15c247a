"""Fill the interop table in docs/interop.md from a test run's matrix report.

    .venv/bin/python -m pytest -m matrix --matrix-report=interop-matrix.json
    .venv/bin/python scripts/interop_matrix.py interop-matrix.json [MORE.json ...] [--doc docs/interop.md]

The table (rows: features, columns: client x direction) replaces what stands between the
``<!-- matrix:begin -->`` and ``<!-- matrix:end -->`` lines. Which cells exist, and why some have
no test, is tests/support/matrix.py; this script only renders. A cell claimed by several tests
passes only when all of them passed; a cell no test claims reads "not run" (or the reason
tests/support/matrix.py gives).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.matrix import CLIENTS, DIRECTIONS, FEATURES, unclaimed_reason  # noqa: E402

BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
ARROWS = {"to": "→", "from": "←"}


def outcomes(report: dict) -> dict[tuple[str, str, str], list[str]]:
    cells: dict[tuple[str, str, str], list[str]] = {}
    for test in report["tests"]:
        cells.setdefault((test["client"], test["feature"], test["direction"]), []).append(test["outcome"])
    return cells


def render(report: dict) -> str:
    cells = outcomes(report)
    notes: list[str] = []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    def text(client: str, feature, direction: str) -> str:
        results = cells.get((client, feature.key, direction))
        if results:
            for outcome, shown in (("failed", "**FAIL**"), ("not run", "not run"), ("skipped", "skipped")):
                if outcome in results:
                    return shown
            return "pass"
        reason = unclaimed_reason(client, feature.key, direction)
        if reason:
            return f"– {note(reason)}"
        return "pending" if feature.pending else "not run"

    header = ["feature", *(f"{client} {ARROWS[d]}" for client in CLIENTS for d in DIRECTIONS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for feature in FEATURES:
        row = [feature.title, *(text(client, feature, d) for client in CLIENTS for d in DIRECTIONS)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"[{i}] {reason}  " for i, reason in enumerate(notes, 1)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Fill docs/interop.md's matrix from --matrix-report files.")
    parser.add_argument("reports", nargs="+", type=Path, help="JSON written by pytest --matrix-report")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "interop.md")
    options = parser.parse_args(argv)
    tests = [test for path in options.reports for test in json.loads(path.read_text())["tests"]]
    text = options.doc.read_text()
    if BEGIN not in text or END not in text:
        print(f"{options.doc}: no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    options.doc.write_text(f"{head}{BEGIN}\n{render({'tests': tests})}{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
