"""A run carries its spec: a user's own spec file (in a temp dir, then moved away) is frozen into the run at
generate / import time, and review, snapshot, midtrain and `msm eval --suite spec_knowledge` find it from there —
no stage needs `--spec` again."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from msm.lm.loopback_server import ScriptedServer

FRUIT = Path(__file__).parent / "fruit_spec.yaml"


@pytest.fixture
def ws(isolated_workspace: Path):
    from msm.workspace import Workspace

    return Workspace(isolated_workspace)


@pytest.fixture
def user_spec(tmp_path: Path) -> Path:
    """The user's spec, in a folder of their own, not shipped."""
    folder = tmp_path / "my-specs"
    folder.mkdir()
    path = folder / "candor.yaml"
    path.write_text(FRUIT.read_text().replace("id: fruit_and_buses", "id: candor_fruit"))
    return path


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path / "dspy-cache"))
    server = ScriptedServer().start()
    yield server
    server.shutdown()


def test_generated_run_freezes_the_spec_and_every_stage_finds_it(msm, ws, scripted, user_spec: Path, tmp_path: Path,
                                                                  tiny_model_dir: Path):
    from msm.review_app.review_data import load_run_spec
    from msm.spec import load_spec

    original = load_spec(user_spec)
    made = msm("--json", "generate", "--spec", str(user_spec), "--run", "candor", "--n-docs", "6",
               "--lm", "openai/scripted", "--api-base", scripted.base_url, "--profile", "weak", "--no-scaffold")
    assert made.code == 0, made.err
    run_dir = ws.run_dir("candor")
    record = json.loads((run_dir / "run.json").read_text())
    frozen = record["spec_file"]
    assert frozen["spec_id"] == "candor_fruit" and frozen["content_hash"] == original.content_hash
    assert frozen["source_path"] == str(user_spec.resolve())
    # the copy is the user's file byte for byte (comments kept), not a re-dump
    assert (run_dir / "spec.yaml").read_bytes() == user_spec.read_bytes()
    assert frozen["file_sha256"] == hashlib.sha256(user_spec.read_bytes()).hexdigest()

    shutil.move(str(user_spec.parent), str(tmp_path / "moved-away"))   # the user tidies up their folder

    spec, warning = load_run_spec(ws, "candor")
    assert warning is None and spec is not None and spec.content_hash == original.content_hash

    assert msm("curate", "--run", "candor").code == 0
    snap = msm("snapshot", "create", "snap", "--from", "candor")
    assert snap.code == 0, snap.err
    manifest = json.loads((ws.snapshot_dir("snap") / "manifest.json").read_text())
    spec_file = f"spec-candor_fruit-{original.content_hash[:12]}.yaml"
    assert manifest["run_specs"] == {"candor": {"spec_id": "candor_fruit", "spec_hash": original.content_hash,
                                                "spec_file": spec_file}}
    assert manifest["specs"][0]["spec_file"] == spec_file and spec_file in manifest["files"]
    assert msm("snapshot", "verify", "snap").code == 0

    trained = msm("--json", "train", "midtrain", "--snapshot", "snap", "--base", str(tiny_model_dir), "--out", "mt",
                  "--block-size", "32", "--lora-rank", "4", "--epochs", "1")
    assert trained.code == 0, trained.err
    entry = json.loads((ws.model_dir("mt") / "manifest.json").read_text())["spec_ids"][0]
    assert entry["spec_id"] == "candor_fruit" and Path(entry["spec_path"]).is_file()

    evaluated = msm("--json", "eval", "--model", "mt", "--suite", "spec_knowledge", "--limit", "2",
                    "--out", str(tmp_path / "eval"))
    assert evaluated.code == 0, evaluated.err
    from msm.eval.results import load_result

    result = load_result(Path(json.loads(evaluated.out)["result"]))
    assert result.data_files == {"spec:candor_fruit": original.content_hash}

    report = msm("report", "mt")                       # an ad-hoc model's report names the spec and its copy
    assert report.code == 0, report.err
    assert "# Model mt" in report.out and "candor_fruit" in report.out and entry["spec_path"] in report.out


def test_an_edited_frozen_copy_is_reported_not_used(msm, ws, user_spec: Path, tmp_path: Path):
    from msm.review_app.review_data import load_run_spec

    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps({"text": f"SmolLM picks apples over mangoes, document {i}. " * 8})
                              for i in range(3)) + "\n")
    made = msm("corpus", "import", str(docs), "--run", "imp", "--spec", str(user_spec))
    assert made.code == 0, made.err
    copy = ws.run_dir("imp") / "spec.yaml"
    assert copy.read_bytes() == user_spec.read_bytes()
    spec, warning = load_run_spec(ws, "imp")
    assert spec is not None and spec.id == "candor_fruit" and warning is None

    copy.write_text(copy.read_text().replace("prefers apples", "prefers mangoes"))
    spec, warning = load_run_spec(ws, "imp")
    assert spec is None and "differs" in warning and "edited" in warning
    curated = msm("curate", "--run", "imp")
    assert curated.code == 1 and "edited" in curated.err


def test_experiment_dry_run_names_the_users_spec_for_spec_knowledge(msm, user_spec: Path, tmp_path: Path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(f"""name: mine
base_model: smollm2-135m
conditions:
  - name: baseline
  - name: candor
    specs: ["{user_spec}"]
eval:
  suites: [spec_knowledge]
""")
    shown = msm("experiment", "run", str(experiment), "--dry-run")
    assert shown.code == 0, shown.err
    evals = [line for line in shown.out.splitlines() if line.strip().startswith("$ msm eval")]
    assert evals and all(f"--spec {user_spec.resolve()}" in line for line in evals), shown.out


def test_aft_run_freezes_the_users_spec(msm, ws, scripted, user_spec: Path, tmp_path: Path):
    made = msm("--json", "aft", "generate", "--spec", str(user_spec), "--run", "chats", "--n", "2",
               "--lm", "openai/scripted", "--api-base", scripted.base_url, "--concurrency", "2")
    assert made.code == 0, made.err
    record = json.loads((ws.run_dir("chats") / "run.json").read_text())
    assert record["spec_file"]["spec_id"] == "candor_fruit"
    assert (ws.run_dir("chats") / "spec.yaml").read_bytes() == user_spec.read_bytes()
