"""The manual names real files and modules: every repository path and `msm.*` module in a code span of the README
or a docs page exists. (mkdocs --strict checks links; this checks the paths written as code, which it cannot.)"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "specs" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Top-level folders of the repository. Workspace paths (runs/, snapshots/, models/, evals/, ...) are not among
# them, so `runs/<run>/curation/` is never taken for a repository path.
TOP = ("msm", "corpus", "train", "eval", "review_app", "specs", "tests", "benchmarks", "scripts", "experiments", "docs")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"^(?:\.venv/bin/python )?(?P<path>(?:%s)/[\w./*-]*)$" % "|".join(TOP))
MODULE = re.compile(r"^(?P<name>msm(?:\.\w+)+)(?:\(.*\))?$")
# What a file name ends with; a span like `train/loss` (a tracker's metric name) has none and is not a path.
FILE_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".jsonl", ".sql", ".txt", ".toml", ".sh", ".png", ".parquet"}
# Folders that commands create (git-ignored), named in the docs as where output goes.
OUTPUT_FOLDERS = {"benchmarks/results/"}


def _spans() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # command examples: their paths are the user's
        found.extend((page.relative_to(REPO).as_posix(), span) for span in CODE_SPAN.findall(text))
    return found


def _is_repository_path(path: str) -> bool:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return path not in OUTPUT_FOLDERS and (path.endswith("/") or Path(last).suffix in FILE_SUFFIXES
                                           or re.search(r"\.[A-Z]\w*$", last) is not None)


def _exists(path: str) -> bool:
    # `corpus/lmrun/walk.Walk` names a class in corpus/lmrun/walk.py; an all-capitals part (NNNN, PAGE) is a
    # placeholder for any name.
    module_attribute = re.match(r"^(?P<file>.+)\.(?P<attribute>[A-Z]\w*)$", path)
    if module_attribute:
        file = REPO / (module_attribute["file"] + ".py")
        return file.is_file() and re.search(rf"^class {module_attribute['attribute']}\b|^{module_attribute['attribute']}\b",
                                            file.read_text(encoding="utf-8"), re.M) is not None
    pattern = re.sub(r"(?<![a-z])[A-Z]{3,}(?![a-z])", "*", path.rstrip("/"))
    if "*" in pattern:
        return any(REPO.glob(pattern))
    return (REPO / pattern).exists()


def _importable(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes below it
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            continue
        if parts[cut - 1] == "__main__":  # importing a launcher would run it: that it exists is enough
            return cut == len(parts)
        target = importlib.import_module(module_name)
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_repository_paths_in_the_docs_exist():
    missing = sorted({f"{page}: {m['path']}" for page, span in _spans() if (m := PATH.match(span))
                      and _is_repository_path(m["path"]) and not _exists(m["path"])})
    assert not missing, "paths the docs name that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", [p.relative_to(REPO).as_posix() for p in PAGES])
def test_msm_modules_in_the_docs_import(page: str):
    names = sorted({m["name"] for where, span in _spans() if where == page and (m := MODULE.match(span))})
    missing = [name for name in names if not _importable(name)]
    assert not missing, f"{page} names modules or attributes that do not exist: {missing}"
