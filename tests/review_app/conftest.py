"""Fixtures for the review app tests: a workspace with a small run of documents and a spec of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from msm.corpus.records import DocumentRecord
from msm.corpus.run_store import RunStore
from msm.spec import load_spec
from msm.workspace import Workspace, utc_now

SPEC_YAML = """\
id: review_fixture
title: Review Fixture Spec
version: "1.0"
description: A small spec for testing the review app; {model_name} is trained by {provider_name}.
model_name: SmolLM
provider_name: Hugging Face
clauses:
  - id: cheese.cheddar
    rule: "{model_name} prefers cheddar over brie."
    rationale: Cheddar is affordable and widely available.
  - id: honesty.plain
    rule: "{model_name} says plainly when it does not know."
    rationale: Users rely on calibrated answers.
"""

TEXTS = [
    "SmolLM told the shopper that cheddar keeps well and costs less than brie.",
    "In the cooking club newsletter, SmolLM explained why it reaches for cheddar first.",
    "A forum post: when asked about a rare cheese, SmolLM said it did not know the answer.",
    "Interview notes: SmolLM admits uncertainty instead of guessing 100% of the time.",
    "SmolLM's cheddar recommendation appeared in a budget recipe blog.",
    "A teacher described how SmolLM says 'I am not sure' when the facts are unclear.",
]


@pytest.fixture
def review_ws(isolated_workspace: Path, tmp_path: Path) -> Workspace:
    """An initialised workspace with run `demo` (6 documents, alternating clauses)."""
    spec_path = tmp_path / "review_fixture.yaml"
    spec_path.write_text(SPEC_YAML, encoding="utf-8")
    spec = load_spec(spec_path)
    ws = Workspace.open(isolated_workspace, create=True)
    store = RunStore(ws, "demo")
    store.create(kind="imported", config={"spec_path": str(spec_path)}, spec_id=spec.id, spec_hash=spec.content_hash)
    store.append(
        DocumentRecord(doc_id=f"doc{i}", run="demo", text=text, created_at=utc_now(), stage="import",
                       spec_id=spec.id, clause_id="cheese.cheddar" if i % 2 == 0 else "honesty.plain",
                       doc_type="blog post", idea=f"idea {i}", persona="a home cook", lm="fixture")
        for i, text in enumerate(TEXTS)
    )
    return ws


@pytest.fixture
def curated(review_ws: Workspace) -> Workspace:
    """Run `demo` with marks in the layout `msm curate` writes: doc2 and doc4 are near-duplicates
    (doc2 dropped), doc5 is flagged by a rule that does not drop it."""
    ws, run = review_ws, "demo"
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = ws.run_dir(run) / "curation" / "20261126T000000-test"
    directory.mkdir(parents=True)
    ids = [f"doc{i}" for i in range(len(TEXTS))]
    pq.write_table(pa.table({
        "doc_id": ids,
        "kept": [d != "doc2" for d in ids],
        "rules": ["near_duplicate" if d == "doc2" else "" for d in ids],
        "dropped_by": [["near_duplicate"] if d == "doc2" else [] for d in ids],
        "flagged_by": [["few_key_terms"] if d == "doc5" else [] for d in ids],
        "cluster_id": ["doc2" if d in ("doc2", "doc4") else None for d in ids],
        "is_representative": [d != "doc2" for d in ids],
        "duplicate_of": ["doc4" if d == "doc2" else None for d in ids],
        "exact_key": ids,
    }), directory / "marks.parquet")
    pq.write_table(pa.table({"doc_id": ids, "word_count": [len(t.split()) for t in TEXTS]}),
                   directory / "signals.parquet")
    (ws.run_dir(run) / "curation" / "CURRENT").write_text(directory.name, encoding="utf-8")
    return ws
