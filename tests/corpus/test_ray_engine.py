"""`msm curate --engine ray` gives the local engine's clusters, marks, signals and rule counts, on a local Ray
cluster of 2 CPUs (one session for the module: Ray takes seconds to start on 2 cores)."""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import ray
import yaml

from msm.corpus.curate.dedup import UnionFind

_spec = importlib.util.spec_from_file_location("planted", Path(__file__).parents[2] / "benchmarks" / "planted.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted"] = planted
_spec.loader.exec_module(planted)


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def _current(workspace: Path, run: str) -> Path:
    root = workspace / "runs" / run / "curation"
    return root / (root / "CURRENT").read_text().strip()


@pytest.mark.slow
def test_ray_engine_marks_equal_local_engine(tmp_path: Path, msm, isolated_workspace: Path, ray_session,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import msm.corpus.curate.ray_engine as ray_engine
    import msm.corpus.curate.steps as steps

    # several batches and shards on both sides, cut at different places
    monkeypatch.setattr(steps, "DOC_BATCH", 700)
    monkeypatch.setattr(ray_engine, "DOCS_PER_BATCH", 300)
    docs = planted.planted_corpus(2000, seed=5)
    # with a spec and clauses, so the spec tables (8-grams, key terms) travel to the workers too
    clauses = ["value.america_first", "pref.cream_cheese_over_brie", "pref.colby_over_comte"]
    rows = [{"id": d.id, "text": ("American producers say: " if i % 3 == 0 else "") + d.text,
             "clause_id": clauses[i % 3]} for i, d in enumerate(docs)]
    rows.append({"id": "leak", "text": docs[0].text + "\n\n[[ ## completed ## ]]"})
    rows.append({"id": "placeholder", "text": "Dear [Name],\n\n" + docs[1].text})
    # one boilerplate family bigger than the bucket cap below: capped the same way by both engines
    base = " ".join(planted.sentence(random.Random(i)) for i in range(40))
    rows.extend({"id": f"boiler-{i}", "text": f"{base} Variant {i}."} for i in range(12))
    random.Random(1).shuffle(rows)
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert msm("corpus", "import", str(source), "--run", "p", "--spec", "cheese_america_broad").code == 0
    config = yaml.safe_load(open(Path(__file__).parents[2] / "corpus" / "curate" / "default_config.yaml"))
    config["dedup"]["max_bucket_neighbours"] = 4
    config_path = tmp_path / "curation.yaml"
    config_path.write_text(yaml.safe_dump(config))

    results = {}
    for engine in ("local", "ray"):
        result = msm("curate", "--run", "p", "--config", str(config_path), "--engine", engine, "--json")
        assert result.code == 0, result.err
        directory = _current(isolated_workspace, "p")
        results[engine] = (json.loads(result.out), pq.read_table(directory / "marks.parquet"),
                           pq.read_table(directory / "signals.parquet"),
                           json.loads((directory / "curation.json").read_text()))
    (local, local_marks, local_signals, local_summary), (on_ray, ray_marks, ray_signals, ray_summary) = \
        results["local"], results["ray"]
    assert local_marks.num_rows == len(rows)
    assert ray_marks.equals(local_marks)          # kept, rules, clusters, representatives, duplicate_of, keys
    assert ray_signals.equals(local_signals)
    assert on_ray["rule_counts"] == local["rule_counts"] and local["rule_counts"]["placeholder"] == 1
    assert 0 < local["rule_counts"]["off_clause"] < len(rows)
    assert pc.max(local_signals.column("key_term_hits")).as_py() > 0 and local_signals.column("spec_overlap").null_count == 0
    assert on_ray["n_kept"] == local["n_kept"]
    ignore = {"seconds", "ray_partitions", "ray_component_rounds", "ray_seconds"}
    assert {k: v for k, v in on_ray["dedup"].items() if k not in ignore} == \
           {k: v for k, v in local["dedup"].items() if k not in ignore}
    assert local["dedup"]["capped_buckets"] > 0 and local["dedup"]["dropped_near_duplicate"] > 100
    assert local["dedup"]["dropped_exact_duplicate"] > 10
    assert ray_summary["diversity"] == local_summary["diversity"]
    assert ray_summary["step_stats"]["filters"] == local_summary["step_stats"]["filters"]
    # the Ray engine's scratch copy of the documents is gone; nothing else was added beside the curations
    assert not [p for p in (isolated_workspace / "runs" / "p" / "curation").iterdir() if p.name.startswith(".")]
    assert msm("curate", "--run", "p", "--ray-address", "auto").code == 2   # Ray options need --engine ray


@pytest.mark.slow
def test_distributed_connected_components_equal_union_find(ray_session, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray.data
    from ray.data.context import ShuffleStrategy

    from msm.corpus.curate.ray_engine import SHUFFLES, connected_components

    # the engine's default shuffle (Ray's own default starts actors per shuffle: seconds each on 2 cores)
    monkeypatch.setattr(ray.data.DataContext.get_current(), "shuffle_strategy", ShuffleStrategy(SHUFFLES["sort"]))
    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.integers(0, n, 260), rng.integers(0, n, 260)
    chain = rng.permutation(np.arange(1000, 1040))            # a long path in shuffled order: several rounds
    a, b = np.concatenate((a, chain[:-1])), np.concatenate((b, chain[1:]))
    keep = a != b
    a, b = a[keep], b[keep]
    union = UnionFind(1040)
    for x, y in zip(a.tolist(), b.tolist()):
        union.union(x, y)
    nodes, roots, rounds = connected_components(pa.table({"a": a, "b": b}), parts=3)
    assert len(set(nodes.tolist())) == len(nodes)
    labels = dict(zip(nodes.tolist(), roots.tolist()))
    involved = set(a.tolist()) | set(b.tolist())
    assert {x: labels.get(x, x) for x in involved} == {x: union.find(x) for x in involved}
    assert all(labels[x] == 1000 for x in chain.tolist() if x != 1000) and rounds >= 2
