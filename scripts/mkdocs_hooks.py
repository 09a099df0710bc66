"""MkDocs hook: pages of the site whose source lives outside docs/.

The spec format is documented in specs/README.md, next to the specs, because it ships inside the package
(`msm.specs`) and GitHub shows it when someone opens the folder. Copying it into docs/ would leave two texts to
keep equal; instead the build adds that file to the site as `spec-format.md`, so docs pages link to it like any
other page and --strict checks those links and anchors too.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]

# site page -> source file in the repository
EXTERNAL_PAGES = {"spec-format.md": REPO / "specs" / "README.md"}


def on_files(files: Files, config) -> Files:
    for page, source in EXTERNAL_PAGES.items():
        files.append(File.generated(config, page, abs_src_path=str(source)))
    return files
