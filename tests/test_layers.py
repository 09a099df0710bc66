"""The import layering in .importlinter holds, and the check really sees the stage packages: a deliberate upward
import in a copy of the sources fails it (pyproject's package-dir mapping hides msm.corpus & co. from a plain
`lint-imports`, which would pass vacuously)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "lint_imports.py"
SOURCES = ["msm", "corpus", "train", "eval", "review_app", "specs"]

pytest.importorskip("importlinter")


def _copy_sources(dest: Path) -> Path:
    for name in SOURCES:
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", ".importlinter"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=120)


def test_the_layers_hold_in_this_checkout(tmp_path):
    result = _lint(_copy_sources(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    # a stage reaching up into the roof (inside a function, as most of msm's imports are)
    ("corpus/records.py", "def _up():\n    from msm.experiment.config import load_experiment\n", "msm.corpus"),
    ("corpus/records.py", "def _up():\n    import msm.experiment.runner\n", "msm: the roof"),
    # the LM room importing a stage above it
    ("msm/lm/backends.py", "def _up():\n    from msm.eval import judges\n", "msm: the roof"),
    # a circle inside one package
    ("train/records.py", "def _circle():\n    from msm.train import loop\n", "no import circles"),
])
def test_an_upward_import_fails_the_check(tmp_path, module, line, contract):
    root = _copy_sources(tmp_path)
    target = root / module
    target.write_text(target.read_text() + "\n\n" + line)
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def test_a_new_top_level_module_needs_a_layer(tmp_path):
    root = _copy_sources(tmp_path)
    (root / "msm" / "stray.py").write_text('"""Not in any layer yet."""\n')
    result = _lint(root)
    assert result.returncode != 0 and "stray" in result.stdout, result.stdout
