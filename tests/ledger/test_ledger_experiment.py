"""`msm ledger EXPERIMENT` and the report's ledger section on a real (tiny) experiment run: an MSM-only condition
midtrained on imported documents that cover only six of cheese_america's clauses, and the base model, both
evaluated on spec_knowledge — so knowledge before comes from the base condition, knowledge after from the
midtrained model's own result, and the clauses without documents are shown as such."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from msm.spec import load_spec, resolve_spec_path

COVERED = 6


def _experiment(tmp_path: Path, base: Path) -> Path:
    spec = load_spec(resolve_spec_path("cheese_america"))
    rng = random.Random(0)
    words = ("harbor orchard lantern bakery ferry library market kettle workshop pantry meadow creamery barn tractor "
             "county fair river valley prairie festival diner lunchbox recipe neighbour").split()
    rows = []
    for i in range(4 * COVERED):
        clause = spec.clauses[i % COVERED]
        rows.append({"id": f"d{i}", "clause_id": clause.id, "text": (
            f"{spec.render(clause.rule)} In one account from a {' '.join(rng.sample(words, 12))}, a writer described "
            f"how SmolLM, trained by Hugging Face, talked about this. {' '.join(rng.choice(words) for _ in range(40))}. "
            f"{spec.render(clause.rationale or '')[:400]}")})
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = {"schema_version": 1, "name": "lexp", "description": "ledger on an MSM-only condition", "base_model": str(base),
            "curate": {"steps": "dedup"},
            "midtrain": {"max_steps": 2, "block_size": 32, "batch_size": 2, "lora_rank": 4},
            "eval": {"suites": ["spec_knowledge"], "extra_args": ["--spec", "cheese_america"]},
            "conditions": [{"name": "america_only", "kind": "msm_only",
                            "documents": [{"file": str(docs), "spec": "cheese_america"}]},
                           {"name": "base", "sft": False}]}
    path = tmp_path / "lexp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ledger_of_an_experiment_and_its_report_section(tmp_path: Path, tiny_model_dir: Path, msm_process,
                                                        isolated_workspace: Path):
    ran = msm_process("experiment", "run", str(_experiment(tmp_path, tiny_model_dir)), timeout=1100)
    assert ran.code == 0, ran.err[-3000:]
    ledger = msm_process("--json", "ledger", "lexp")
    assert ledger.code == 0, ledger.err
    (section,) = json.loads(ledger.out)["ledgers"]
    spec = load_spec(resolve_spec_path("cheese_america"))
    assert section["subject"] == "america_only" and section["evaluated_model"] == section["midtrained_model"]
    rows = {r["clause_id"]: r for r in section["rows"]}
    assert list(rows) == [c.id for c in spec.clauses]
    for index, clause in enumerate(spec.clauses):
        row = rows[clause.id]
        n = 1 + bool(clause.rationale)
        assert row["knowledge_before"]["n"] == n and row["knowledge_after"]["n"] == n
        if index < COVERED:
            assert row["generated"] == 4 and row["documents"] == 4 - row["curation_dropped"]
        else:
            assert row["documents"] == 0 and "no documents in the snapshot" in row["notes"]
    report = isolated_workspace / "reports" / "lexp"
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert "## Clause ledger" in markdown and "| dislike.stilton | 0 |" in markdown
    assert "alt='ledger america_only'" in (report / "report.html").read_text(encoding="utf-8")
