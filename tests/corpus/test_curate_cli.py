"""`msm curate`, `msm curate report` and `msm runs export` on an imported planted corpus."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

_spec = importlib.util.spec_from_file_location("planted", Path(__file__).parents[2] / "benchmarks" / "planted.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted"] = planted
_spec.loader.exec_module(planted)


def import_planted(tmp_path: Path, msm, n: int = 300, run: str = "p") -> list:
    docs = planted.planted_corpus(n, seed=3)
    rows = [{"id": d.id, "text": d.text, "kind": d.kind} for d in docs]
    rows.append({"id": "leak", "text": docs[0].text + "\n\n[[ ## completed ## ]]"})
    rows.append({"id": "placeholder", "text": "Dear [Name],\n\n" + docs[1].text.split("\n\n")[0] + " " + " ".join(
        planted.document(__import__("random").Random(5)))})
    src = tmp_path / "planted.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert msm("corpus", "import", str(src), "--run", run).code == 0
    return docs


def test_curate_marks_report_and_recurate(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    docs = import_planted(tmp_path, msm)
    result = msm("curate", "--run", "p", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    n_dups = sum(d.kind in ("near_duplicate", "exact_duplicate") for d in docs)
    dedup = summary["dedup"]
    assert abs(dedup["dropped_near_duplicate"] + dedup["dropped_exact_duplicate"] - n_dups) <= max(2, n_dups // 20)
    assert summary["rule_counts"]["prompt_marker"] == 1 and summary["rule_counts"]["placeholder"] == 1
    report = json.loads(msm("curate", "report", "--run", "p", "--json").out)
    by_rule = {r["rule"]: r for r in report["rules"]}
    assert by_rule["prompt_marker"]["documents"] == 1 and by_rule["prompt_marker"]["examples"][0]["opening"]
    assert by_rule["near_duplicate"]["documents"] == dedup["dropped_near_duplicate"]
    assert report["diversity"]["kept_documents"] == summary["n_kept"]
    human = msm("curate", "report", "--run", "p")
    assert "near_duplicate" in human.out and "diversity" in human.out

    # marks for every document; nothing deleted from the run
    run_dir = isolated_workspace / "runs" / "p"
    current = (run_dir / "curation" / "CURRENT").read_text().strip()
    marks = pq.read_table(run_dir / "curation" / current / "marks.parquet").to_pylist()
    assert len(marks) == len(docs) + 2
    clusters = [m for m in marks if m["cluster_id"]]
    assert all(sum(1 for c in clusters if c["cluster_id"] == m["cluster_id"] and c["is_representative"]) == 1
               for m in clusters)
    assert sum(1 for _ in open(run_dir / "documents.jsonl")) == len(docs) + 2

    # a new config re-curates: dropping no filter rules, only dedup remains
    config = yaml.safe_load(open(Path(__file__).parents[2] / "corpus" / "curate" / "default_config.yaml"))
    config["filters"] = [{"name": "very_short", "expr": "word_count < $n", "params": {"n": 5}}]
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump(config))
    again = json.loads(msm("curate", "--run", "p", "--config", str(path), "--json").out)
    assert again["rule_counts"] == {"very_short": 0} and again["curation_id"] != summary["curation_id"]
    only_filters = json.loads(msm("curate", "--run", "p", "--steps", "filters", "--json").out)
    assert only_filters["dedup"] is None
    current = (run_dir / "curation" / "CURRENT").read_text().strip()
    marks = {m["doc_id"]: m for m in pq.read_table(run_dir / "curation" / current / "marks.parquet").to_pylist()}
    dropped = {doc_id for doc_id, m in marks.items() if not m["kept"]}
    assert only_filters["n_dropped"] == len(dropped)
    assert {"prompt_marker", "placeholder"} <= {rule for m in marks.values() for rule in m["dropped_by"]}
    assert not any(set(m["dropped_by"]) & {"exact_duplicate", "near_duplicate"} for m in marks.values())
    # dedup alone computes no signal (no signals.parquet) and drops only duplicates
    only_dedup = json.loads(msm("curate", "--run", "p", "--steps", "dedup", "--json").out)
    assert only_dedup["n_dropped"] == dedup["dropped_near_duplicate"] + dedup["dropped_exact_duplicate"]
    current = (run_dir / "curation" / "CURRENT").read_text().strip()
    assert not (run_dir / "curation" / current / "signals.parquet").exists()
    assert "signals_and_rules" not in only_dedup["seconds"]
    assert msm("curate", "--run", "p", "--steps", "bogus").code == 2
    assert msm("curate", "--run", "nope").code == 2


def test_runs_export_has_provenance_signals_clusters(tmp_path: Path, msm) -> None:
    import_planted(tmp_path, msm, n=120)
    out = tmp_path / "export.parquet"
    assert msm("runs", "export", "p", "--out", str(out)).code == 0
    before = pq.read_table(out)
    assert "kept" not in before.column_names and before.num_rows == 122
    assert msm("curate", "--run", "p").code == 0
    assert msm("runs", "export", "p", "--out", str(out), "--force").code == 0
    table = pq.read_table(out)
    for column in ("doc_id", "text", "source_id", "metadata", "kept", "rules", "cluster_id", "word_count",
                   "review_status"):
        assert column in table.column_names
    jsonl_out = tmp_path / "export.jsonl"
    assert msm("runs", "export", "p", "--out", str(jsonl_out)).code == 0
    rows = [json.loads(line) for line in open(jsonl_out)]
    assert len(rows) == 122 and {"kept", "cluster_id"} <= set(rows[0])
    assert msm("runs", "export", "p", "--out", str(tmp_path / "x.csv")).code == 2


def test_paper_config_marks_every_rule_and_drops_nothing_but_empty_documents(tmp_path: Path, msm,
                                                                             isolated_workspace: Path) -> None:
    from msm.corpus.curate.config import load_config

    config, shown = load_config("paper")
    actions = {r.name: r.action for r in config.filters}
    assert actions.pop("empty_document") == "drop" and set(actions.values()) == {"flag"} and len(actions) > 20
    import_planted(tmp_path, msm, n=120)
    result = json.loads(msm("curate", "--run", "p", "--config", "paper", "--steps", "filters", "--json").out)
    # the planted corpus has a placeholder and a prompt marker: marked, and still kept
    assert result["rule_counts"]["placeholder"] == 1 and result["rule_counts"]["prompt_marker"] == 1
    assert result["n_dropped"] == 0 and result["n_kept"] == result["n_documents"]
