"""Spec versions end to end: clause hashes, `msm spec diff`, and `msm generate --reuse-from` regenerating only the
clauses a two-clause edit of a shipped spec changed (scripted OpenAI-compatible server on loopback: real HTTP, fast)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from msm.lm.loopback_server import ScriptedServer
from msm.spec import load_spec, resolve_spec_path

EDITED = ("like.mild_cheddar", "dislike.stilton")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _edited_spec(tmp_path: Path) -> Path:
    data = yaml.safe_load(resolve_spec_path("cheese_america").read_text())
    for clause in data["clauses"]:
        if clause["id"] in EDITED:
            clause["rule"] += " It says so plainly."
    data["version"] = "2.1"
    path = tmp_path / "cheese_america_v21.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def test_clause_hashes_ignore_formatting_and_follow_content(tmp_path: Path):
    shipped = load_spec(resolve_spec_path("cheese_america"))
    edited = load_spec(_edited_spec(tmp_path))
    changed = {c for c, h in edited.clause_hashes().items() if shipped.clause_hashes()[c] != h}
    assert changed == set(EDITED)
    assert edited.section_hashes() == shipped.section_hashes() and edited.frame_hash() == shipped.frame_hash()


def test_spec_diff_lists_changed_added_removed(msm, tmp_path: Path):
    edited = _edited_spec(tmp_path)
    result = msm("--json", "spec", "diff", "cheese_america", str(edited))
    assert result.code == 0, result.err
    diff = json.loads(result.out)
    changed = {p["id"] for p in diff["parts"] if p["change"] == "changed"}
    assert changed == set(EDITED) and not diff["identical"]
    assert all(p["fields"] == ["rule"] for p in diff["parts"] if p["change"] == "changed")
    other = json.loads(msm("--json", "spec", "diff", "cheese_america", "cheese_affordability").out)
    assert {p["change"] for p in other["parts"] if p["kind"] == "section"} >= {"added", "removed"}
    human = msm("spec", "diff", "cheese_america", str(edited))
    assert "dislike.stilton" in human.out and "2 changed, 11 unchanged" in human.out
    assert msm("spec", "diff", "cheese_america", "no_such_spec").code == 2


@pytest.mark.timeout(240)
def test_two_clause_edit_regenerates_only_those_clauses(msm, tmp_path: Path, isolated_workspace: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path / "dspy-cache"))
    server = ScriptedServer(latency_s=0.0).start()
    try:
        common = ("--n-docs", "26", "--lm", "openai/scripted", "--api-base", server.base_url, "--no-revise",
                  "--plan", "clauses")   # reuse works per clause
        assert msm("generate", "--spec", "cheese_america", "--run", "r1", *common).code == 0
        edited = _edited_spec(tmp_path)
        diffed = json.loads(msm("--json", "spec", "diff", "run:r1", str(edited)).out)
        assert {p["id"] for p in diffed["parts"] if p["change"] == "changed"} == set(EDITED)

        plan = msm("--json", "generate", "--spec", str(edited), "--run", "r2", *common, "--reuse-from", "r1",
                   "--plan-only")
        assert plan.code == 0, plan.err
        reuse = json.loads(plan.out)["reuse"]
        status = {c["clause_id"]: c for c in reuse["clauses"]}
        assert {c for c, row in status.items() if row["status"] == "changed"} == set(EDITED)
        assert all(status[c]["reused"] == 0 and status[c]["to_generate"] == status[c]["quota"] for c in EDITED)
        assert reuse["reused"] + reuse["to_generate"] == 26
        assert not (isolated_workspace / "runs" / "r2").exists()  # --plan-only writes nothing

        ran = msm("--json", "generate", "--spec", str(edited), "--run", "r2", *common, "--reuse-from", "r1")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["reused"] == reuse["reused"]
        docs = _lines(isolated_workspace / "runs" / "r2" / "documents.jsonl")
        r1 = {d["doc_id"]: d for d in _lines(isolated_workspace / "runs" / "r1" / "documents.jsonl")}
        assert len(docs) == 26 and len({d["doc_id"] for d in docs}) == 26
        for doc in docs:
            origin = doc["metadata"].get("reused_from")
            if doc["clause_id"] in EDITED:
                assert origin is None and doc["spec_hash"] == load_spec(edited).content_hash
            else:  # copied with its original provenance: the old spec version, the old text
                assert origin["run"] == "r1" and doc["spec_hash"] == r1[origin["doc_id"]]["spec_hash"]
                assert doc["text"] == r1[origin["doc_id"]]["text"]
        # the LM was asked only about the edited clauses
        calls = _lines(isolated_workspace / "runs" / "r2" / "calls.jsonl")
        asked = {c["item"].split("#")[0].split("|")[0] for c in calls if c["stage"] in ("plan", "types", "ideas")}
        assert asked == set(EDITED)
        assert Counter(c["stage"] for c in calls)["write"] == reuse["to_generate"]
        # a rerun resumes: nothing copied twice, nothing generated
        again = json.loads(msm("--json", "generate", "--spec", str(edited), "--run", "r2", *common,
                               "--reuse-from", "r1").out)
        assert again["reused"] == 0 and again["new_documents"] == 0 and again["documents"] == 26
        # other writing settings: refused, nothing written
        bad = msm("generate", "--spec", str(edited), "--run", "r3", "--n-docs", "26", "--lm", "openai/scripted",
                  "--api-base", server.base_url, "--plan", "clauses", "--reuse-from", "r1", "--plan-only")
        assert bad.code == 2 and "revise" in bad.err
    finally:
        server.shutdown()


def test_eval_results_keep_clauses_and_compare_groups_by_clause(msm, tiny_model_dir: Path, tmp_path: Path):
    from msm.eval.results import load_result

    out = tmp_path / "results"
    args = ("--json", "eval", "--model", str(tiny_model_dir), "--suite", "spec_knowledge", "--spec",
            "cheese_america", "--out", str(out))
    first = json.loads(msm(*args).out)["result"]
    second = json.loads(msm(*args).out)["result"]
    result = load_result(Path(first))
    spec = load_spec(resolve_spec_path("cheese_america"))
    assert all(len(i.clauses) == 1 and i.item_id.startswith(f"sk-cheese_america-{i.clauses[0]}-")
               for i in result.items)
    assert {i.clauses[0] for i in result.items} == {c.id for c in spec.clauses}
    import pyarrow.parquet as pq

    table = pq.read_table(Path(first).with_suffix(".items.parquet"))
    assert table.column("clauses").to_pylist() == [i.clauses for i in result.items]

    compared = msm("--json", "eval", "compare", first, second, "--by", "clause")
    assert compared.code == 0, compared.err
    by_clause = json.loads(compared.out)["differences"][0]["by_clause"]
    assert {c["clause"] for c in by_clause} == {c.id for c in spec.clauses}
    assert all(c["difference"]["value"] == 0.0 for c in by_clause)  # same model twice: no difference
    assert sum(c["n_paired"] for c in by_clause) == len(result.items)
    human = msm("eval", "compare", first, second, "--by", "clause")
    assert "dislike.stilton" in human.out and "CLAUSE" in human.out


def test_items_may_name_clauses_and_bad_ids_are_refused(tmp_path: Path):
    from msm.errors import BadInput
    from msm.eval.items import ValueProbe, load_items

    good = {"id": "p1", "kind": "conflict", "domain": "art", "question": "Which?", "target": "a", "other": "b",
            "clauses": ["value.cheese_judgment"]}
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(good) + "\n")
    assert load_items(path, ValueProbe)[0].clauses == ["value.cheese_judgment"]
    path.write_text(json.dumps({**good, "clauses": ["Not An Id"]}) + "\n")
    with pytest.raises(BadInput, match="clauses"):
        load_items(path, ValueProbe)
