"""Every `msm ...` command line in the README and the docs pages names a real command, and every option on it is
one of that command's options: a renamed or removed option shows up here, not in a user's terminal."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from msm.cli import cli

REPO = Path(__file__).resolve().parents[1]
# The generated CLI reference is the CLI itself; every other page is written by hand.
PAGES = [REPO / "README.md", REPO / "specs" / "README.md",
         *(p for p in sorted((REPO / "docs").glob("*.md")) if p.name != "cli.md")]
GLOBAL_FLAGS = {"--json", "--debug", "--quiet", "-q", "--version", "--help", "-h"}
GLOBAL_WITH_VALUE = {"--workspace"}


def command_lines(text: str) -> list[str]:
    """The `msm ...` invocations of a page: lines of its code blocks (backslash continuations joined) and inline
    code spans that start with `msm `."""
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        lines.extend(re.sub(r"\\\n\s*", " ", block).splitlines())
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines.extend(re.findall(r"`(msm [^`\n]+)`", prose))
    found = []
    for line in lines:
        line = line.split(" #", 1)[0]  # a shell comment
        # `"$(msm train accelerate-config NAME)"` is a command of its own inside another one.
        inner = re.findall(r"\$\(([^)]*)\)", line)
        line = re.sub(r"\$\([^)]*\)", "VALUE", line)
        for part in [*re.split(r"&&|\|\||;|\|", line), *inner]:  # each command of a compound line
            words = part.replace('"', " ").replace("'", " ").split()
            for i, word in enumerate(words):
                if word == "msm" or word.endswith("/msm"):
                    found.append(" ".join(["msm", *words[i + 1:]]))
                    break
                if word == "msm.train" and i > 0 and words[i - 1] == "-m":
                    # `python -m msm.train ARGS` is `msm train ARGS`, the global options allowed before ARGS
                    rest, leading = words[i + 1:], []
                    while rest and (rest[0] in GLOBAL_FLAGS or rest[0] in GLOBAL_WITH_VALUE):
                        take = 2 if rest[0] in GLOBAL_WITH_VALUE else 1
                        leading, rest = leading + rest[:take], rest[take:]
                    found.append(" ".join(["msm", *leading, "train", *rest]))
                    break
    return found


def resolve(words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """(command path, command, the words after it), skipping the global options before the command."""
    command: click.Command = cli
    path: list[str] = []
    rest = list(words)
    while rest:
        word = rest[0]
        if word in GLOBAL_FLAGS and command is cli:
            rest.pop(0)
        elif word in GLOBAL_WITH_VALUE and command is cli:
            rest[:2] = []
        elif isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            path.append(word)
            rest.pop(0)
        else:
            break
    return path, command, rest


def option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(param.opts)
        names.update(getattr(param, "secondary_opts", []))
    return names


def problems(page: Path) -> list[str]:
    found = []
    for line in command_lines(page.read_text(encoding="utf-8")):
        words = [w.strip("[]") for w in line.split()[1:]]
        path, command, rest = resolve(words)
        if rest and re.fullmatch(r"[A-Z]+|\.\.\.|…", rest[0]):  # `msm COMMAND`, `msm ...`: a placeholder
            continue
        if not path:
            if rest and not rest[0].startswith("-"):
                found.append(f"{line!r}: no command {rest[0]!r}")
            continue
        if isinstance(command, click.Group) and rest and not rest[0].startswith("-") \
                and command.name != "eval":  # `msm eval --model ...` is a command and a group (`eval compare`)
            found.append(f"{line!r}: `msm {' '.join(path)}` has no subcommand {rest[0]!r}")
            continue
        known = option_names(command)
        for word in rest:
            option = word.split("=", 1)[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", option) and option not in known:
                found.append(f"{line!r}: `msm {' '.join(path)}` has no option {option}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_documented_commands_and_options_exist(page: Path):
    found = problems(page)
    assert not found, "\n".join(found)


def test_the_check_finds_a_wrong_option_and_a_wrong_command(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nmsm generate --spec x --run y --no-such-option 3\nmsm frobnicate\n"
                    "msm --workspace ws curate --run r --steps dedup\n```\n"
                    "Inline: `msm train midtrain --snapshot s --bogus`.\n", encoding="utf-8")
    found = problems(page)
    assert any("--no-such-option" in p for p in found)
    assert any("'frobnicate'" in p for p in found)
    assert any("--bogus" in p for p in found)
    assert not any("curate" in p for p in found)
