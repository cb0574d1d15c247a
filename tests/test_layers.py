"""The package's layers and the absence of import cycles, checked by import-linter (.importlinter).

A failure names the import that breaks a contract: move the code to the layer it belongs to
(docs/architecture.md says what may import what) rather than adding an exception.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint(config: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--config", str(config), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_hold():
    result = _lint(ROOT / ".importlinter")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_a_layer_violation_is_caught(tmp_path):
    """Positive control: the same contracts over a copy of the package with one upward import
    (the pure core importing the engine) must fail."""
    import shutil

    copy = tmp_path / "torrentish"
    shutil.copytree(ROOT / "torrentish", copy, ignore=shutil.ignore_patterns("__pycache__"))
    bitfield = copy / "core" / "bitfield.py"
    bitfield.write_text(bitfield.read_text() + "\nimport trio  # noqa\nfrom torrentish.engine import torrent  # noqa\n")
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(tmp_path / ".importlinter"), "--no-cache"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "torrentish.core is not allowed to import torrentish.engine" in result.stdout
    assert "torrentish.core.bitfield -> trio" in result.stdout
