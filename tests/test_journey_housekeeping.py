"""Issue 30 housekeeping: `runs delete`, counts in `runs list`, `snapshot show` for people, the option spellings,
`spec validate`'s identity warning, `msm review`'s port check, the review app's run order, `msm report RUN|MODEL`,
the shared model cache."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from msm.workspace import Workspace

FRUIT = Path(__file__).parent / "corpus" / "fruit_spec.yaml"
TEXT = ("SmolLM prefers apples over mangoes because apples cost less and keep for weeks, so a family budget stretches "
        "further. The market on the corner sells them by the bag, and the children eat them on the way to school. ")


def _import(msm, tmp_path: Path, run: str, n: int = 4) -> None:
    docs = tmp_path / f"{run}.jsonl"
    from tests.corpus.test_signals_rules import good_document

    # distinct documents (dedup keeps one of near-copies), each on the clause
    docs.write_text("\n".join(json.dumps({"text": good_document(sum(map(ord, run)) * 100 + i) + " " + TEXT})
                              for i in range(n)) + "\n")
    result = msm("corpus", "import", str(docs), "--run", run, "--spec", str(FRUIT))
    assert result.code == 0, result.err


def test_runs_list_counts_and_runs_delete_refuses_a_snapshot_source_unless_forced(msm, tmp_path: Path,
                                                                                   isolated_workspace: Path):
    _import(msm, tmp_path, "kept", 4)
    _import(msm, tmp_path, "abandoned", 3)
    assert msm("curate", "--run", "kept").code == 0
    rows = {r["name"]: r for r in json.loads(msm("--json", "runs", "list").out)}
    assert rows["kept"]["documents"] == 4 and rows["kept"]["kept"] is not None and rows["abandoned"]["kept"] is None
    assert "DOCUMENTS" in msm("runs", "list").out

    deleted = msm("runs", "delete", "abandoned")
    assert deleted.code == 0, deleted.err
    assert not (isolated_workspace / "runs" / "abandoned").exists()
    assert "abandoned" not in msm("runs", "list").out
    assert not [p for p in (isolated_workspace / "runs").iterdir() if p.name.startswith(".")]  # no staging left
    assert msm("runs", "delete", "abandoned").code == 2

    assert msm("snapshot", "create", "s", "--run", "kept").code == 0      # --run: the spelling curate uses
    refused = msm("runs", "delete", "kept")
    assert refused.code == 2 and "snapshot(s) s" in refused.err and "--force" in refused.err
    assert (isolated_workspace / "runs" / "kept").is_dir()
    assert msm("runs", "delete", "kept", "--force").code == 0
    assert msm("snapshot", "verify", "s").code == 0                       # the snapshot keeps its own copy


def test_snapshot_show_is_for_people_unless_json_and_counts_words(msm, tmp_path: Path):
    _import(msm, tmp_path, "r", 3)
    msm("curate", "--run", "r")
    created = msm("snapshot", "create", "s", "--from", "r")                  # the older spelling still works
    assert created.code == 0 and " words" in created.out and "tokens" not in created.out
    shown = msm("snapshot", "show", "s")
    assert shown.code == 0 and not shown.out.lstrip().startswith("{")
    assert "documents" in shown.out and "fruit_and_buses" in shown.out and "spec-fruit_and_buses-" in shown.out
    assert json.loads(msm("snapshot", "show", "s", "--json").out)["name"] == "s"


def test_spec_validate_warns_when_the_assistant_is_not_the_embedded_models(msm, tmp_path: Path):
    mine = tmp_path / "candor.yaml"
    mine.write_text(FRUIT.read_text().replace("model_name: SmolLM", "model_name: Candor"))
    result = msm("spec", "validate", str(mine))
    assert result.code == 0 and "warning:" in result.err and "'Candor'" in result.err and "SmolLM" in result.err
    quiet = msm("spec", "validate", str(FRUIT))
    assert quiet.code == 0 and "warning" not in quiet.err


def test_the_embedded_models_chat_template_names_smollm(embedded_model_dir: Path):
    from msm.spec_cli import EMBEDDED_MODEL_NAME, EMBEDDED_PROVIDER_NAME

    template = (embedded_model_dir / "chat_template.jinja").read_text()
    assert f"named {EMBEDDED_MODEL_NAME}, trained by {EMBEDDED_PROVIDER_NAME}" in template


def test_review_refuses_a_taken_port_before_printing_its_url(msm, isolated_workspace: Path):
    pytest.importorskip("streamlit")
    from msm.review_app.accounts import add_user

    assert msm("init").code == 0
    add_user(Workspace(isolated_workspace), "ann", "a-long-enough-password-1", "admin")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = msm("review", "--port", str(port), "--host", "127.0.0.1")
    assert result.code == 2, result
    assert f"--port {port}" in result.err and "http://" not in result.err


def test_review_app_opens_on_the_most_recently_written_run(msm, tmp_path: Path, isolated_workspace: Path):
    from msm.review_app.review_data import run_names

    _import(msm, tmp_path, "zeta", 2)
    time.sleep(0.05)
    _import(msm, tmp_path, "alpha", 2)
    ws = Workspace(isolated_workspace)
    assert run_names(ws)[-1] == "alpha"
    later = time.time() + 5
    os.utime(ws.run_dir("zeta") / "documents.jsonl", (later, later))
    assert run_names(ws)[-1] == "zeta"


def test_report_of_a_run(msm, tmp_path: Path, isolated_workspace: Path):
    _import(msm, tmp_path, "r", 3)
    msm("curate", "--run", "r")
    result = msm("report", "r")
    assert result.code == 0, result.err
    assert "# Run r" in result.out and "fruit_and_buses" in result.out and "## Curation" in result.out
    assert (isolated_workspace / "reports" / "runs" / "r.md").is_file()
    assert msm("report", "nothing-here").code == 2


def test_model_cache_is_shared_across_workspaces_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MSM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    one, two = Workspace(tmp_path / "one"), Workspace(tmp_path / "two")
    assert one.cache_dir == two.cache_dir == tmp_path / "xdg" / "msm"
    (tmp_path / "old" / "cache" / "models" / "smollm2-135m").mkdir(parents=True)   # pulled before sharing
    assert Workspace(tmp_path / "old").cache_dir == tmp_path / "old" / "cache"
    monkeypatch.setenv("MSM_CACHE", str(tmp_path / "mine"))
    assert one.cache_dir == tmp_path / "mine"
