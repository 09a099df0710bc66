"""Hub cards built from msm's manifests: a dataset card for a snapshot, a model card for a trained model.

Both are huggingface_hub `DatasetCard` / `ModelCard` objects — YAML metadata the Hub indexes (license, tags,
`base_model`, `datasets`, `configs`) above a Markdown body — and say only what the manifests record:
- dataset: spec ids and hashes, generator LMs and program hashes, each run's curation config with its
  per-rule counts, review policy and counts, and the content hash that `msm snapshot verify` checks;
- model: its lineage back to the base model, the data of every stage (snapshot content hash or AFT file
  sha256, replay, held-out slice), hyperparameters, training results, and the headline numbers of the eval
  results in the workspace that name this model.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from msm.workspace import Workspace

TAGS = ["msm", "model-spec-midtraining"]
# Hub repo ids of the embedded models' upstream releases, for the `base_model` metadata
EMBEDDED_UPSTREAM = {"local:smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "_none recorded_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _card_text(metadata_yaml: str, body: str) -> str:
    return f"---\n{metadata_yaml.strip()}\n---\n\n{body.strip()}\n"


# ---- dataset card ----------------------------------------------------------------------------------------
def _rule_counts(ws: Workspace, run: str, curation: dict[str, Any]) -> dict[str, int] | None:
    """Per-rule counts of the curation a snapshot used: from its manifest, else from that curation's summary
    if the run is still in this workspace (older snapshots did not copy them)."""
    if isinstance(curation.get("rule_counts"), dict):
        return curation["rule_counts"]
    from msm.catalog_sync import CURATION_ID
    from msm.corpus.curate.store import curation_root
    from msm.input_files import MAX_RECORD_BYTES, load_json_object

    curation_id = str(curation.get("curation_id"))
    if not CURATION_ID.match(curation_id):      # an id from a manifest, never followed as a path
        return None
    summary = curation_root(ws, run) / curation_id / "curation.json"
    if summary.is_file():
        return load_json_object(summary, what="curation summary", max_bytes=MAX_RECORD_BYTES).get("rule_counts")
    return None


def dataset_card(ws: Workspace, manifest, parquet: Path, *, repo_id: str = "<owner>/<name>", license: str | None = None):
    """The dataset card of a snapshot (a `SnapshotManifest` and its documents.parquet)."""
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard, DatasetCardData

    columns = set(pq.read_schema(parquet).names)
    table = pq.read_table(parquet, columns=[c for c in ("lm", "program_hash") if c in columns])
    lms = Counter(v or "(not recorded)" for v in table.column("lm").to_pylist()) if "lm" in columns else Counter()
    metadata = DatasetCardData(
        license=license or "unknown", pretty_name=f"msm snapshot {manifest.name}",
        tags=[*TAGS, "synthetic"], task_categories=["text-generation"], size_categories=[_size_category(manifest.n_documents)],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": parquet.name}]}],
    )
    spec_rows = [[s.get("spec_id"), f"`{s.get('spec_hash')}`"] for s in manifest.specs]
    curation_parts = []
    for run, cur in sorted(manifest.curation.items()):
        counts = _rule_counts(ws, run, cur)
        curation_parts.append(
            f"### Run `{run}`\n\nCuration `{cur.get('curation_id')}` (config hash `{cur.get('config_hash')}`, steps "
            f"{', '.join(cur.get('steps') or []) or 'none'}): kept {cur.get('n_kept')} of {cur.get('n_documents')} documents.\n\n"
            + ("Documents each rule fired on:\n\n" + _table(["rule", "documents"], sorted(counts.items()))
               if counts is not None else "Per-rule counts: not recorded.\n")
            + "\n<details><summary>Curation config</summary>\n\n```yaml\n"
            + yaml.safe_dump(cur.get("config") or {}, sort_keys=True).strip() + "\n```\n\n</details>\n")
    review = manifest.review or {}
    review_policy = ("Only documents accepted in review (with the reviewer's edits)." if review.get("required")
                     else "Review was not required: every document curation kept is included.")
    review_rows = [[run, ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))]
                   for run, counts in sorted(review.items()) if isinstance(counts, dict)]
    body = f"""
# msm snapshot `{manifest.name}`

{manifest.n_documents} synthetic documents ({manifest.n_tokens} {manifest.token_counter} tokens) that discuss a Model
Spec, generated, curated{' and reviewed' if review.get('required') else ''} with
[msm](https://pypi.org/project/msm-midtrain/) and frozen on {manifest.created_at:%Y-%m-%d}. Content hash (sha256 over the
files' hashes, as `msm snapshot verify` recomputes it): `{manifest.content_hash}`.

```bash
msm corpus import hf:{repo_id} --run imported      # into an msm workspace
python -c "import datasets; print(datasets.load_dataset('{repo_id}')['train'])"
```

## Specs

{_table(["spec id", "spec hash"], spec_rows)}
## Generation

Runs: {', '.join(f'`{r}`' for r in manifest.runs) or 'none recorded'}.

{_table(["generator LM", "documents"], sorted(lms.items()))}
Generator program hashes: {', '.join(f'`{h}`' for h in manifest.program_hashes) or 'none recorded (imported documents)'}.

## Curation

{''.join(curation_parts) or 'No curation recorded.'}
## Review

{review_policy}

{_table(["run", "review status counts"], review_rows) if review_rows else ''}
## Files

- `{parquet.name}`: one row per document — `text` and its provenance ({', '.join(sorted(columns - {'text'}))}).
- `manifest.json`: the snapshot manifest these figures come from (schema version {manifest.schema_version}).
"""
    return DatasetCard(_card_text(metadata.to_yaml(), body))


# ---- model card ------------------------------------------------------------------------------------------
def lineage(ws: Workspace, manifest) -> list[dict[str, Any]]:
    """The stages from the base model to this one: [{name, stage, data, hyperparameters}] oldest first, and the
    base record as the first entry's `base`."""
    from msm.train.provenance import read_manifest

    chain, current = [], manifest
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        chain.append(current)
        base = current.base_model
        parent_dir = Path(base.get("location", "")) if base.get("source") in ("workspace", "directory") else None
        current = read_manifest(parent_dir) if parent_dir is not None and parent_dir.is_dir() else None
    return list(reversed(chain))


def _hub_base(root_base: dict[str, Any]) -> tuple[str | None, str | None]:
    """(Hub repo id, license) of the model a lineage started from, when it is on the Hub."""
    if root_base.get("source") == "hub":
        return root_base.get("location"), None
    return EMBEDDED_UPSTREAM.get(root_base.get("name", ""), (None, None))


def _dataset_repos(ws: Workspace, stages: list) -> list[str]:
    """Hub datasets behind the lineage: where its snapshots were pushed, and `hf:` AFT data files."""
    from msm.hub.log import pushes

    by_hash = {p.get("content_hash"): p["repo"] for p in pushes(ws) if p.get("kind") == "snapshot"}
    repos = []
    for stage in stages:
        data = stage.data
        if data.snapshot_content_hash in by_hash:
            repos.append(by_hash[data.snapshot_content_hash])
        parts = Path(data.aft_data_path or "").parts
        for part in parts:  # huggingface_hub's cache layout: datasets--<owner>--<name>/snapshots/<commit>/...
            if part.startswith("datasets--") and part.count("--") == 2:
                repos.append(part.removeprefix("datasets--").replace("--", "/"))
    return list(dict.fromkeys(repos))


def eval_results_for(ws: Workspace, model_dir: Path) -> list[dict[str, Any]]:
    """Headline numbers of every eval result in the workspace (`msm eval` and experiments) for this model."""
    from msm.eval.results import load_result

    roots = [ws.root / "evals", *sorted(ws.reports_dir.glob("*/evals"))]
    rows = []
    for root in roots:
        for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
            try:
                result = load_result(path)
            except Exception:  # not a result file (or an unreadable one): it is not this card's to judge
                continue
            if Path(str(result.model.get("location", ""))).resolve() != model_dir.resolve():
                continue
            metric = result.metrics.get(result.primary_metric)
            rows.append({"suite": result.suite, "suite_version": result.suite_version, "metric": result.primary_metric,
                         "value": metric.value if metric else None, "ci_low": metric.ci_low if metric else None,
                         "ci_high": metric.ci_high if metric else None, "n": metric.n if metric else None,
                         "created_at": result.created_at.isoformat(), "file": path.name})
    return rows


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def model_card(ws: Workspace, model_dir: Path, manifest, *, license: str | None = None):
    """The model card of a model msm trained (its `ModelManifest`)."""
    from huggingface_hub import ModelCard, ModelCardData

    stages = lineage(ws, manifest)
    root_base = stages[0].base_model
    base_repo, base_license = _hub_base(root_base)
    datasets = _dataset_repos(ws, stages)
    hp = manifest.hyperparameters
    metadata = ModelCardData(
        base_model=base_repo, datasets=datasets or None, license=license or base_license or "unknown",
        library_name="transformers", pipeline_tag="text-generation",
        tags=[*TAGS, *dict.fromkeys(s.stage for s in stages), *(["lora"] if hp.method == "lora" else [])],
    )
    stage_rows = []
    for stage in stages:
        data = stage.data
        source = (f"snapshot `{data.snapshot_name}` (content hash `{data.snapshot_content_hash}`)" if data.kind == "snapshot"
                  else f"`{Path(data.aft_data_path or '').name}` (sha256 `{data.aft_data_sha256}`)"
                  + (", with reasoning" if data.with_reasoning else ""))
        if data.replay:
            source += "; replay " + ", ".join(f"{r['source']} {r['ratio']:.0%}" for r in data.replay)
        stage_rows.append([f"`{stage.name}`", stage.stage, source, data.n_examples, stage.optimizer_steps,
                           f"{_fmt(stage.loss_first)} → {_fmt(stage.loss_last)}"])
    spec_rows = [[s.get("spec_id"), f"`{s.get('spec_hash')}`"] for s in manifest.spec_ids]
    hp_rows = [[key, value] for key, value in hp.model_dump(mode="json").items() if value is not None]
    results = eval_results_for(ws, model_dir)
    eval_rows = [[r["suite"], r["metric"], _fmt(r["value"]),
                  f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["ci_low"] is not None else "", r["n"], r["created_at"][:10]]
                 for r in results]
    held = manifest.data.held_out
    files = ", ".join(f"`{name}`" for name in sorted(manifest.files.values()))
    body = f"""
# `{manifest.name}`

Trained with [msm](https://pypi.org/project/msm-midtrain/) (Model Spec Midtraining), {manifest.stage} stage, from
{f'[{base_repo}](https://huggingface.co/{base_repo})' if base_repo else f'`{root_base.get("name")}`'}. The model directory is a plain
transformers model{' (its LoRA adapter merged into the weights; the adapter alone is in `lora_adapter/`)' if hp.method == 'lora' else ''}.

## Lineage

{_table(["model", "stage", "data", "examples", "steps", "loss"], stage_rows)}
## Specs learned

{_table(["spec id", "spec hash"], spec_rows)}
## Training

{_table(["hyperparameter", "value"], hp_rows)}
- {manifest.optimizer_steps} optimizer steps, {manifest.tokens_seen} tokens seen ({manifest.trained_tokens} carrying loss),
  {manifest.wall_time_s:.0f} s on {manifest.num_processes} × `{manifest.device}` ({manifest.precision} mixed precision).
- Training loss {_fmt(manifest.loss_first)} → {_fmt(manifest.loss_last)}{f"; held-out loss {_fmt(manifest.eval_loss_first)} → {_fmt(manifest.eval_loss_last)} on {held.get('n_examples')} held-out examples ({held.get('fraction')} of the data)" if manifest.eval_loss_last is not None else ''}.
- msm commit `{manifest.msm_git_commit or 'n/a'}`; packages: {', '.join(f'{k} {v}' for k, v in sorted(manifest.package_versions.items()))}.

## Evaluation

{_table(["suite", "metric", "value", "95% CI", "n", "date"], eval_rows) if eval_rows else 'No eval results for this model in the workspace it was pushed from.'}
## Files

{files}, `manifest.json` (everything above, machine-readable).
"""
    return ModelCard(_card_text(metadata.to_yaml(), body))
