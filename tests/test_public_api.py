"""`import msm` exposes the stage functions and their request records, lazily."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import msm

STAGES = ["generate", "aft_generate", "curate", "snapshot", "midtrain", "sft", "evaluate"]


@pytest.mark.parametrize("name", sorted(set(msm.__all__) - {"__version__"}))
def test_every_public_name_imports(name):
    value = getattr(msm, name)
    assert value is not None and name in dir(msm)


@pytest.mark.parametrize("name", STAGES)
def test_each_stage_is_one_shape_with_an_example(name):
    function = getattr(msm, name)
    params = list(inspect.signature(function).parameters)
    assert params == ["workspace", "request"], params
    assert f"msm.{name}(ws, msm." in inspect.getdoc(function), "the docstring shows a call"


def test_import_msm_stays_light():
    """`import msm` (every command does it) imports no stage, DSPy, torch or DuckDB."""
    code = ("import sys, msm; heavy = [m for m in ('msm.stages', 'dspy', 'torch', 'duckdb', 'msm.corpus') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_unknown_names_and_submodules_behave_as_before():
    with pytest.raises(AttributeError):
        msm.no_such_name  # noqa: B018
    from msm import models  # a submodule, not a public name: still imported the normal way

    assert models.__name__ == "msm.models"


def test_requests_are_validated_records(tmp_path):
    with pytest.raises(ValueError, match="n_docs"):
        msm.GenerateRequest(spec="cheese_america", run="nb", n_docs=0)
    with pytest.raises(ValueError, match="runs"):
        msm.SnapshotRequest(name="s", runs=[])
    ws = msm.open_workspace(tmp_path / "ws")
    assert ws.exists() and isinstance(ws, msm.Workspace)


def test_curate_and_snapshot_through_the_python_api(tmp_path):
    """The same stages `msm curate` and `msm snapshot create` run, called as functions on a real workspace."""
    import json

    from msm.corpus.importer import import_documents

    ws = msm.open_workspace(tmp_path / "ws")
    docs = tmp_path / "docs.jsonl"
    texts = [f"Document {i} about why the assistant prefers aged cheddar, with reason number {i} and a few more "
             f"words so that it passes the length filter of the shipped curation config easily. " * 3
             for i in range(6)]
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    import_documents(ws, docs, "nb")
    summary = msm.curate(ws, msm.CurateRequest(run="nb", steps="dedup"))
    assert summary.run == "nb" and summary.steps == ["dedup"] and summary.n_documents == 6
    manifest = msm.snapshot(ws, msm.SnapshotRequest(name="nb-snap", runs=["nb"]))
    assert manifest.n_documents == summary.n_kept >= 1 and (ws.snapshot_dir("nb-snap") / "manifest.json").is_file()
