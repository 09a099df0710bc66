"""Check the import layering (.importlinter) over the whole installed `msm` package.

import-linter builds its graph by walking the directory of the root package it imports, but pyproject's
package-dir mapping installs msm.corpus, msm.train, ... from folders beside msm/, so a plain `lint-imports`
sees msm/ alone and every contract about the stages would pass without looking at them. This script lays the
mapping out as one tree of symlinks (build/import-graph/msm/corpus -> corpus/, ...), read from pyproject so a new
mapping is picked up, checks that every mapped package is in the graph, and runs lint-imports on that tree.

    python scripts/lint_imports.py            # exit 0 when every contract holds
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_tree(root: Path, tree: Path) -> list[str]:
    """Symlink the package-dir mapping under `tree`; return the mapped package names."""
    mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    if tree.exists():
        shutil.rmtree(tree)
    top = tree / "msm"
    top.mkdir(parents=True)
    for entry in (root / mapping["msm"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in sorted(mapping.items()):
        if package == "msm":
            continue
        parts = package.split(".")
        if parts[0] != "msm" or len(parts) != 2:
            raise SystemExit(f"lint_imports: package-dir {package!r}: only msm.<name> mappings are laid out")
        (top / parts[1]).symlink_to(root / folder)
    return sorted(mapping)


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT
    tree = root / "build" / "import-graph"
    packages = build_tree(root, tree)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # The graph must hold every mapped package, or the contracts would be checked against a partial graph.
    probe = ("import grimp, sys; g = grimp.build_graph('msm', cache_dir=None); "
             "missing = [p for p in sys.argv[1:] if p not in g.modules]; "
             "print('lint_imports: not in the import graph: ' + ', '.join(missing)) if missing else None; "
             "sys.exit(1 if missing else 0)")
    # cwd is the tree, not the repository: the interpreter puts its cwd first on sys.path, where the bare msm/
    # folder would be found before the laid-out one.
    if subprocess.run([sys.executable, "-c", probe, *packages], cwd=tree, env=env).returncode:
        return 1
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), str(root / ".importlinter"), "--no-cache"], cwd=tree,
                          env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
