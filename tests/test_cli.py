"""CLI conventions: --help everywhere, every command documented in the README, exit codes, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from msm.cli import cli

REPO = Path(__file__).resolve().parents[1]


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = prefix + (name,)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, path))
    return found


COMMANDS = _all_commands(cli)


def test_command_tree_covers_the_cli_contract():
    names = {" ".join(path) for path in COMMANDS}
    for expected in ["init", "models pull", "models list", "spec validate", "spec show", "generate", "runs list",
                     "runs show", "runs export", "corpus import", "optimize", "curate", "curate report", "review",
                     "review add-user", "snapshot create", "snapshot list", "snapshot show", "snapshot verify",
                     "snapshot export", "train midtrain", "train sft", "eval", "experiment run", "report"]:
        assert expected in names, expected


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_help_works_and_says_something(path: tuple[str, ...], msm):
    result = msm(*path, "--help")
    assert result.code == 0, result.err
    assert "Usage: msm " + " ".join(path) in result.out
    body = result.out.split("\n", 2)[-1]
    assert len(body.strip()) > 20, f"`msm {' '.join(path)}` has no help text"


def test_every_option_has_help_text():
    missing = []
    for path in COMMANDS:
        command = cli
        for part in path:
            command = command.commands[part]  # type: ignore[attr-defined]
        for param in command.params:
            if isinstance(param, click.Option) and not param.help and param.name != "help":
                missing.append(f"msm {' '.join(path)} {param.opts[0]}")
    assert not missing, missing


def test_every_command_is_documented_in_readme():
    # README.md or a page under docs/ (the README is kept short; the command reference lives in docs/)
    readme = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    undocumented = [" ".join(p) for p in COMMANDS if not re.search(r"msm (--\S+ \S+ )?" + re.escape(" ".join(p)) + r"\b", readme)]
    assert not undocumented, f"commands missing from README.md: {undocumented}"


def test_unknown_command_and_missing_option_are_usage_errors(msm):
    unknown = msm("frobnicate")
    assert unknown.code == 2 and unknown.err.startswith("msm: usage error:")
    assert len(unknown.err.strip().splitlines()) == 1
    missing = msm("spec", "show")
    assert missing.code == 2 and "Traceback" not in missing.err


def test_version(msm):
    result = msm("--version")
    assert result.code == 0 and "msm" in result.out


def test_init_creates_workspace_and_is_idempotent(msm, isolated_workspace: Path):
    first = msm("--json", "init")
    assert first.code == 0, first.err
    data = json.loads(first.out)
    assert data["created"] is True and data["schema_version"] >= 1
    for sub in ("runs", "snapshots", "models", "reports"):
        assert (isolated_workspace / sub).is_dir()
    assert (isolated_workspace / "catalog.duckdb").exists()
    second = msm("init", "--help")
    assert second.code == 0
    again = json.loads(msm("--json", "init").out)
    assert again["created"] is False and again["migrations_applied"] == []


def test_workspace_option_overrides_env(msm, tmp_path: Path):
    other = tmp_path / "elsewhere"
    assert msm("--workspace", str(other), "init").code == 0
    assert (other / "catalog.duckdb").exists()


def test_read_command_without_workspace_is_exit_2(msm):
    result = msm("runs", "list")
    assert result.code == 2
    assert "msm init" in result.err


def test_workspace_that_is_a_file_is_exit_2(msm, tmp_path: Path):
    path = tmp_path / "afile"
    path.write_text("x")
    result = msm("--workspace", str(path), "init")
    assert result.code == 2, result
    assert "Traceback" not in result.err


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "..", "x" * 101, ""])
def test_path_like_names_are_refused(name: str, msm):
    msm("init")
    result = msm("snapshot", "show", name)
    assert result.code == 2, result
    assert "not allowed" in result.err or "no such" in result.err


def test_debug_shows_traceback_only_when_asked(msm):
    plain = msm("snapshot", "show", "nope")
    assert plain.code == 2 and "Traceback" not in plain.err
    msm("init")
    debug = msm("--debug", "snapshot", "show", "nope")
    assert debug.code == 2 and "Traceback" in debug.err


def test_json_flag_after_command(msm):
    msm("init")
    assert json.loads(msm("runs", "list", "--json").out) == []
    assert json.loads(msm("--json", "snapshot", "list").out) == []
