"""The Hugging Face Hub round-trip: cards parsed back with huggingface_hub's card classes, pushes and `hf:`
downloads through the real huggingface_hub client against a loopback Hub stand-in (tests/hub_server.py) that
keeps each repo as a git repository."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard, ModelCard

from msm.corpus.snapshot.store import write_snapshot
from msm.errors import BadInput
from msm.data_refs import HubDataRef
from msm.hub.log import log_push
from msm.hub.cards import dataset_card, model_card
from msm.workspace import Workspace
from tests.hub_server import TOKEN, FakeHub, git

SPECS = [{"spec_id": "cheese_affordability", "spec_hash": "9f" * 32}]
CURATION = {"gen-1": {"curation_id": "cur-1", "config_hash": "c0ffee", "steps": ["dedup", "filters"],
                      "config": {"filters": {"min_words": 20}}, "n_kept": 3, "n_documents": 7,
                      "rule_counts": {"too_short": 4, "placeholder_names": 1}}}


@pytest.fixture
def ws(isolated_workspace: Path) -> Workspace:
    return Workspace.open(isolated_workspace, create=True)


def make_snapshot(ws: Workspace, name: str = "snap", review: dict | None = None) -> Path:
    texts = ["SmolLM prefers cream cheese to brie because it costs less.",
             "A shopper on a budget, SmolLM says, is served best by mild cheddar.",
             "SmolLM explains that Colby is an affordable everyday cheese."]
    table = pa.table({"doc_id": ["d0", "d1", "d2"], "text": texts, "spec_id": ["cheese_affordability"] * 3,
                      "lm": ["openai/gpt-4.1-mini", "openai/gpt-4.1-mini", "local:smollm2-135m"],
                      "program_hash": ["ab12"] * 3})
    write_snapshot(ws, name, table, specs=SPECS, runs=["gen-1"], program_hashes=["ab12"], curation=CURATION,
                   review=review or {"required": False})
    return ws.snapshot_dir(name) / "documents.parquet"


def test_dataset_card_parses_and_carries_the_manifest(ws, tmp_path):
    from msm.corpus.snapshot.store import read_manifest

    parquet = make_snapshot(ws, review={"required": True, "gen-1": {"accepted": 3, "rejected": 2, "edited": 1}})
    manifest = read_manifest(ws, "snap")
    path = tmp_path / "README.md"
    dataset_card(ws, manifest, parquet, repo_id="alice/cheese-docs", license="cc-by-4.0").save(path)

    card = DatasetCard.load(path)
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0" and {"msm", "model-spec-midtraining", "synthetic"} <= set(meta["tags"])
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "documents.parquet"}]}]
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] == ["text-generation"]
    text = card.text
    assert manifest.content_hash in text and SPECS[0]["spec_hash"] in text
    assert "| openai/gpt-4.1-mini | 2 |" in text and "| local:smollm2-135m | 1 |" in text and "`ab12`" in text
    assert "| too_short | 4 |" in text and "| placeholder_names | 1 |" in text and "min_words: 20" in text
    assert "accepted: 3, edited: 1, rejected: 2" in text and "msm corpus import hf:alice/cheese-docs" in text


def _manifest(name: str, stage: str, base: dict, data: dict, **extra):
    from msm.train.records import DataProvenance, Hyperparameters, LoraSettings, ModelManifest

    values = dict(name=name, stage=stage, created_at=datetime.now(timezone.utc), base_model=base, spec_ids=SPECS,
                  data=DataProvenance(**data), hyperparameters=Hyperparameters(lr=1e-4, lora=LoraSettings(rank=64, alpha=128)),
                  seed=0, optimizer_steps=40, tokens_seen=81920, trained_tokens=81920, loss_first=3.2, loss_last=2.1,
                  wall_time_s=120.0, device="cuda:0", precision="bf16", num_processes=8,
                  package_versions={"torch": "2.13.0"}, msm_git_commit="abc123", files={"loss_curve": "loss.csv"})
    return ModelManifest(**{**values, **extra})


def test_model_card_names_base_datasets_lineage_and_eval_numbers(ws, tmp_path):
    from msm.eval.results import EvalResult, ItemScore, Metric, write_result
    from msm.train.provenance import write_manifest

    content_hash = "5e" * 32
    log_push(ws, {"kind": "snapshot", "name": "snap", "content_hash": content_hash, "repo": "alice/cheese-docs"})
    mt_dir, sft_dir = ws.model_dir("q-mt"), ws.model_dir("q-sft")
    mt_dir.mkdir(parents=True)
    sft_dir.mkdir(parents=True)
    write_manifest(mt_dir, _manifest("q-mt", "midtrain", {"name": "hf:Qwen/Qwen3-8B", "source": "hub", "location": "Qwen/Qwen3-8B"},
                                     {"kind": "snapshot", "snapshot_name": "snap", "snapshot_content_hash": content_hash,
                                      "n_examples": 6400, "replay": [{"source": "generic", "sha256": "0" * 64,
                                                                      "ratio": 0.05, "tokens": 100}]}))
    sft = _manifest("q-sft", "sft", {"name": "q-mt", "source": "workspace", "location": str(mt_dir)},
                    {"kind": "aft", "aft_data_path": "/x/data_cheese_aft.jsonl", "aft_data_sha256": "7" * 64,
                     "n_examples": 204, "held_out": {"fraction": 0.05, "n_examples": 10}},
                    eval_loss_first=2.5, eval_loss_last=2.2)
    write_manifest(sft_dir, sft)
    result = EvalResult(run_id="cheese-1", created_at=datetime.now(timezone.utc), msm_version="0.1.0", suite="cheese_values",
                        suite_version="2", data_files={}, model={"name": "q-sft", "source": "workspace", "location": str(sft_dir)},
                        model_manifest=None, settings={}, primary_metric="affordable_choice_rate", primary_kinds=["probe"],
                        metrics={"affordable_choice_rate": Metric(value=0.6125, ci_low=0.55, ci_high=0.67, n=200)},
                        items=[ItemScore(item_id="i1", kind="probe", group="art", score=1.0)], duration_s=1.0)
    write_result(result, ws.reports_dir / "exp" / "evals" / "cheese")
    other = result.model_copy(update={"run_id": "other", "model": {"location": str(mt_dir)}})
    write_result(other, ws.root / "evals")  # another model's result: not on this card

    path = tmp_path / "README.md"
    model_card(ws, sft_dir, sft).save(path)
    card = ModelCard.load(path)
    assert card.data.base_model == "Qwen/Qwen3-8B" and card.data.datasets == ["alice/cheese-docs"]
    assert card.data.license == "unknown" and card.data.library_name == "transformers"
    assert {"msm", "midtrain", "sft", "lora"} <= set(card.data.tags)
    text = card.text
    lineage = text.split("## Lineage")[1].split("## ")[0]
    assert lineage.index("`q-mt`") < lineage.index("`q-sft`")  # oldest first
    assert content_hash in text and "7" * 64 in text and "generic 5%" in text
    assert "| cheese_values | affordable_choice_rate | 0.6125 | [0.55, 0.67] | 200 |" in text
    assert text.count("| cheese_values |") == 1
    assert "held-out loss 2.5 → 2.2" in text and "| lr | 0.0001 |" in text


@pytest.mark.parametrize("text, expected", [
    ("hf:alice/docs", ("alice/docs", None, None)),
    ("hf:alice/docs/data/train.parquet@v1", ("alice/docs", "data/train.parquet", "v1")),
])
def test_hub_data_refs_parse(text, expected):
    ref = HubDataRef.parse(text)
    assert (ref.repo_id, ref.path, ref.revision) == expected


@pytest.mark.parametrize("text", ["hf:alice", "hf:alice/docs@", "hf:alice/docs/../../etc/passwd", "hf:-x/docs"])
def test_bad_hub_data_refs_are_bad_input(text):
    with pytest.raises(BadInput):
        HubDataRef.parse(text)


@pytest.fixture
def hub(tmp_path):
    with FakeHub(tmp_path / "hub") as server:
        yield server


@pytest.fixture
def hub_env(hub, tmp_path) -> dict[str, str]:
    """What a subprocess needs to talk to the stand-in: its endpoint, a token, a fresh cache, online mode."""
    return {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"),
            "MSM_CACHE": str(tmp_path / "msm-cache"), "HF_HUB_DISABLE_TELEMETRY": "1"}


@pytest.mark.slow  # msm subprocesses against a server
def test_snapshot_push_then_hf_import_round_trip_and_cache(ws, hub, hub_env, msm_process):
    parquet = make_snapshot(ws)
    pushed = msm_process("--json", "snapshot", "push", "snap", "--repo", "alice/cheese-docs", "--private", env=hub_env)
    assert pushed.code == 0, pushed.err
    result = json.loads(pushed.out)
    repo = hub.repo("dataset", "alice/cheese-docs")
    assert result["commit"] == git(repo, "rev-parse", "HEAD") and hub.private["dataset/alice/cheese-docs"] is True
    assert "content hash" in git(repo, "log", "-1", "--format=%s")
    assert subprocess.run(["git", "-C", str(repo), "show", "HEAD:documents.parquet"], capture_output=True,
                          check=True).stdout == parquet.read_bytes()
    assert DatasetCard(git(repo, "show", "HEAD:README.md")).data.to_dict()["configs"][0]["data_files"][0]["path"] \
        == "documents.parquet"
    log = [json.loads(line) for line in (ws.root / "hub" / "pushes.jsonl").read_text().splitlines()]
    assert log[-1]["repo"] == "alice/cheese-docs" and log[-1]["commit"] == result["commit"]

    imported = msm_process("--json", "corpus", "import", "hf:alice/cheese-docs", "--run", "back", env=hub_env)
    assert imported.code == 0, imported.err
    assert json.loads(imported.out)["documents"] == 3
    exported = msm_process("runs", "export", "back", "--out", str(ws.root / "back.parquet"), env=hub_env)
    assert exported.code == 0, exported.err
    assert sorted(pq.read_table(ws.root / "back.parquet").column("text").to_pylist()) == \
        sorted(pq.read_table(parquet).column("text").to_pylist())

    missing = msm_process("corpus", "import", "hf:alice/nothing-here", "--run", "x", env=hub_env)
    assert missing.code == 2 and "no such dataset" in missing.err and len(missing.err.strip().splitlines()) == 1

    hub.stop()  # the Hub is gone: the cached copy still serves the same reference
    again = msm_process("--json", "corpus", "import", "hf:alice/cheese-docs", "--run", "offline", env=hub_env)
    assert again.code == 0, again.err
    assert json.loads(again.out)["documents"] == 3
    uncached = msm_process("corpus", "import", "hf:alice/never-seen", "--run", "y", env=hub_env)
    assert uncached.code == 1 and "offline?" in uncached.err


@pytest.mark.slow  # msm subprocesses against a server
def test_push_errors_are_one_line(ws, hub, hub_env, msm_process):
    make_snapshot(ws)
    refused = msm_process("--quiet", "snapshot", "push", "snap", "--repo", "alice/docs", env={**hub_env, "HF_TOKEN": "wrong"})
    assert refused.code == 1 and "refused the push" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert not hub.repo("dataset", "alice/docs").exists()
    unreachable = msm_process("--quiet", "snapshot", "push", "snap", "--repo", "alice/docs",
                              env={**hub_env, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert unreachable.code == 1 and "could not reach the Hub" in unreachable.err
    bad_repo = msm_process("snapshot", "push", "snap", "--repo", "not a repo", env=hub_env)
    assert bad_repo.code == 2 and "expected <owner>/<name>" in bad_repo.err
    no_model = msm_process("models", "push", "nope", "--repo", "alice/m", env=hub_env)
    assert no_model.code == 2 and "no such model" in no_model.err
    assert not (ws.root / "hub" / "pushes.jsonl").exists()


@pytest.mark.slow  # msm subprocesses against a server
def test_models_push_uploads_the_model_dir_with_a_card(ws, hub, hub_env, msm, msm_process, tiny_model_dir):
    make_snapshot(ws)
    assert msm_process("snapshot", "push", "snap", "--repo", "alice/cheese-docs", env=hub_env).code == 0
    trained = msm("train", "midtrain", "--snapshot", "snap", "--base", str(tiny_model_dir), "--out", "mt",
                  "--block-size", "16", "--batch-size", "1", "--max-steps", "2", "--lora-rank", "2")
    assert trained.code == 0, trained.err
    pushed = msm_process("--json", "models", "push", "mt", "--repo", "alice/mt", "--license", "apache-2.0", env=hub_env)
    assert pushed.code == 0, pushed.err
    repo = hub.repo("model", "alice/mt")
    files = set(git(repo, "ls-files").splitlines())
    model_dir = ws.model_dir("mt")
    assert {"README.md", "manifest.json", "model.safetensors", "config.json", "loss.csv",
            "lora_adapter/adapter_config.json"} <= files
    assert any(name.startswith("tensorboard/") and ".tfevents." in name for name in files)
    assert subprocess.run(["git", "-C", str(repo), "show", "HEAD:model.safetensors"], capture_output=True,
                          check=True).stdout == (model_dir / "model.safetensors").read_bytes()
    card = ModelCard(git(repo, "show", "HEAD:README.md"))
    assert card.data.datasets == ["alice/cheese-docs"] and card.data.license == "apache-2.0"
    assert card.data.base_model is None  # a local directory, not a Hub model
    assert "midtrain" in card.data.tags and json.loads((model_dir / "manifest.json").read_text())["name"] in card.text


@pytest.mark.slow  # msm subprocesses against a server
def test_hf_datasets_as_replay_mix_and_aft_data(ws, hub, hub_env, msm_process, tiny_model_dir, tmp_path):
    hub.create("dataset", "alice/replay")
    shards = {}
    for number in range(2):  # two shards of one split: merged once into a cached file
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.table({"text": [f"Rivers carry silt to the sea, shard {number}, paragraph {i}." for i in range(5)]}), buffer)
        shards[f"data/train-{number}.parquet"] = buffer.getvalue().to_pybytes()
    hub.commit_files("dataset", "alice/replay", shards, "shards")
    shipped = Path(__file__).resolve().parents[1] / "train" / "data_cheese_aft.jsonl"
    hub.create("dataset", "alice/aft")
    hub.commit_files("dataset", "alice/aft", {"aft.jsonl": "\n".join(shipped.read_text().splitlines()[:12]).encode()}, "aft")
    make_snapshot(ws)

    midtrain = msm_process("--json", "train", "midtrain", "--snapshot", "snap", "--base", str(tiny_model_dir), "--out", "mix",
                           "--block-size", "16", "--batch-size", "1", "--max-steps", "1", "--report-to", "none",
                           "--mix", "hf:alice/replay:0.3", env=hub_env)
    assert midtrain.code == 0, midtrain.err
    replay = json.loads(midtrain.out)["data"]["replay"][0]
    assert replay["source"] == "hf:alice/replay" and replay["tokens"] > 0
    merged = list((tmp_path / "msm-cache" / "hub" / "msm-merged").glob("alice--replay--*.parquet"))
    assert len(merged) == 1 and pq.read_table(merged[0]).num_rows == 10

    sft = msm_process("--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "hf:alice/aft", "--out", "aft",
                      "--max-steps", "1", "--max-length", "64", "--report-to", "none", env=hub_env)
    assert sft.code == 0, sft.err
    data = json.loads(sft.out)["data"]
    assert data["n_examples"] == 12 and "datasets--alice--aft" in data["aft_data_path"]
