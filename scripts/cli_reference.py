"""Write docs/cli.md, the CLI reference: `msm --help` and every command's `--help`, as the installed CLI prints them.

    .venv/bin/python scripts/cli_reference.py           # rewrite docs/cli.md (what `make cli-docs` runs)
    .venv/bin/python scripts/cli_reference.py --check   # exit 1 if docs/cli.md differs from the CLI

The page is generated, never edited: the help text lives next to the options in the code, and
tests/test_cli_reference.py fails when the committed page and the CLI disagree, so an option added or renamed
without regenerating the page is caught.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "cli.md"
# Fixed, so the page does not depend on the terminal that generated it.
WIDTH = 100

HEADER = """# CLI reference

Every `msm` command's `--help`, generated from the CLI by `make cli-docs` (`python scripts/cli_reference.py`);
do not edit this page by hand. `tests/test_cli_reference.py` fails when it differs from the CLI. The options every
command shares are on [Conventions of every command](conventions.md).
"""


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command under GROUP, depth first in name order (the order `--help` lists them)."""
    found: list[tuple[str, ...]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if getattr(command, "hidden", False):
            continue
        found.append(prefix + (name,))
        if isinstance(command, click.Group):
            found.extend(command_paths(command, prefix + (name,)))
    return found


def help_text(root: click.Group, path: tuple[str, ...]) -> str:
    """What `msm PATH --help` prints, at WIDTH columns."""
    # The commands' own context settings (-h as well as --help, the content width) apply, as when msm runs.
    settings = {**root.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(root, info_name="msm", **settings)
    command: click.Command = root
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
        ctx = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
    with ctx:
        return command.get_help(ctx).rstrip() + "\n"


def render() -> str:
    # Help text must not depend on who generates it: an exported MSM_WORKSPACE would otherwise not matter, but a
    # default read from the environment could; keep the environment out of it.
    for variable in ("MSM_WORKSPACE", "MSM_CACHE"):
        os.environ.pop(variable, None)
    from msm.cli import cli

    parts = [HEADER]
    for path in [(), *command_paths(cli)]:
        title = " ".join(("msm", *path))
        parts.append(f"\n## {title}\n\n```text\n{help_text(cli, path)}```\n")
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with docs/cli.md instead of writing it")
    args = parser.parse_args()
    page = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current == page:
            return 0
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), page.splitlines(True),
                                                   "docs/cli.md (committed)", "docs/cli.md (from the CLI)"))
        print("docs/cli.md is out of date: run `make cli-docs`", file=sys.stderr)
        return 1
    tmp = PAGE.with_suffix(".md.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(PAGE)
    print(f"wrote {PAGE.relative_to(REPO)} ({page.count(chr(10) + '## ')} commands)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
