"""MkDocs hook: pages of the site whose source lives outside docs/.

Two texts are written where GitHub shows them and are pages of the site as well, so there is one copy of each:
- README.md is the site's home page (index.md). Its links point into docs/ (`docs/train.md`), as they must on
  GitHub; on the site the same pages sit at the root, so `docs/` is dropped from them here.
- specs/README.md, the spec format, ships inside the package (`msm.specs`) next to the specs; on the site it is
  spec-format.md, and links to it are rewritten to match.
Both go through --strict like every page: a link in the README to a page, image or heading that does not exist
fails the build. A README link to any other repository file (not under docs/) fails it too, since the site does
not contain that file: name such files in code spans instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]

# site page -> source file in the repository
EXTERNAL_PAGES = {"index.md": REPO / "README.md", "spec-format.md": REPO / "specs" / "README.md"}

# Markdown link targets as written in the repository -> as the site has them (applied to README.md only).
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _site_target(target: str) -> str:
    if target.startswith("docs/"):
        return target[len("docs/"):]
    if target == "specs/README.md" or target.startswith("specs/README.md#"):
        return "spec-format.md" + target[len("specs/README.md"):]
    return target


def on_files(files: Files, config) -> Files:
    for page, source in EXTERNAL_PAGES.items():
        files.append(File.generated(config, page, abs_src_path=str(source)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    return _LINK.sub(lambda m: f"]({_site_target(m.group('target'))})", markdown)
