"""`msm ledger MODEL` on a real chain — scripted-server generation, curation, snapshot, tiny-model midtraining,
spec_knowledge measured on the base and the midtrained model — and `--focus-from` reading its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.lm.loopback_server import ScriptedServer
from msm.corpus.generate.focus import FOCUS_STRENGTH, shares_from_rows
from msm.spec import load_spec, resolve_spec_path


def test_focus_shares_follow_the_documented_formula():
    spec = load_spec(resolve_spec_path("cheese_america"))
    ids = [c.id for c in spec.clauses]
    rows = [{"clause_id": ids[0], "knowledge_after": {"p_correct": 0.2}},
            {"clause_id": ids[1], "knowledge_after": {"p_correct": 0.9}}]  # the rest: unmeasured, mean lag
    shares = shares_from_rows(rows, spec)
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares[ids[0]] > shares[ids[2]] > shares[ids[1]]
    total_w = sum(c.weight for c in spec.clauses)
    u = {c.id: c.weight / total_w for c in spec.clauses}
    lag = {cid: 0.45 for cid in ids} | {ids[0]: 0.8, ids[1]: 0.1}
    norm = sum(u[c] * lag[c] for c in ids)
    expected = (1 - FOCUS_STRENGTH) * u[ids[0]] + FOCUS_STRENGTH * u[ids[0]] * lag[ids[0]] / norm
    assert shares[ids[0]] == pytest.approx(expected)


@pytest.mark.timeout(300)
def test_ledger_of_a_midtrained_model_and_a_focused_round(msm, tmp_path: Path, isolated_workspace: Path,
                                                          tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path / "dspy-cache"))
    server = ScriptedServer(latency_s=0.0).start()
    try:
        common = ("--lm", "openai/scripted", "--api-base", server.base_url, "--no-revise",
                  "--plan", "clauses")   # clause quotas (--focus-from) need the clause plan
        assert msm("generate", "--spec", "cheese_america", "--run", "r1", "--n-docs", "13", *common).code == 0
        assert msm("curate", "--run", "r1", "--steps", "dedup").code == 0
        assert msm("snapshot", "create", "s1", "--from", "r1").code == 0
        trained = msm("train", "midtrain", "--snapshot", "s1", "--base", str(tiny_model_dir), "--out", "m1",
                      "--max-steps", "1", "--block-size", "32", "--batch-size", "2", "--lora-rank", "4")
        assert trained.code == 0, trained.err
        # before --measure: the knowledge columns are empty, rows are all there
        plain = json.loads(msm("--json", "ledger", "m1").out)
        spec = load_spec(resolve_spec_path("cheese_america"))
        (ledger,) = plain["ledgers"]
        assert [r["clause_id"] for r in ledger["rows"]] == [c.id for c in spec.clauses]
        assert ledger["rows"][0]["knowledge_after"] is None and ledger["snapshot"] == "s1"
        assert sum(r["documents"] for r in ledger["rows"]) == 13
        assert all(r["spec_versions"] == {spec.content_hash: r["documents"]} for r in ledger["rows"])

        measured = msm("--json", "ledger", "m1", "--measure")
        assert measured.code == 0, measured.err
        rows = json.loads(measured.out)["ledgers"][0]["rows"]
        for row in rows:  # a rule question per clause, and a rationale question where the clause has one
            n = 1 + bool(spec.clause(row["clause_id"]).rationale)
            assert row["knowledge_before"]["n"] == n and row["knowledge_after"]["n"] == n
            assert 0 <= row["knowledge_after"]["ci_low"] <= row["knowledge_after"]["value"] <= 1
        assert "no spec_knowledge items" not in json.dumps(rows)
        table = msm("ledger", "m1")
        assert table.code == 0 and "knowledge after" in table.out and "like.colby" in table.out.replace("\n", "")

        ledger_file = tmp_path / "ledger.json"
        ledger_file.write_text(measured.out)
        plan = json.loads(msm("--json", "generate", "--spec", "cheese_america", "--run", "r2", "--n-docs", "26",
                              *common, "--focus-from", str(ledger_file), "--plan-only").out)
        quota = plan["documents_per_clause"]
        assert sum(quota.values()) == 26
        known = {r["clause_id"]: r["knowledge_after"]["p_correct"] for r in rows}
        worst, best = min(known, key=known.get), max(known, key=known.get)
        if known[worst] < known[best]:
            assert quota[worst] >= quota[best]
        bad = msm("generate", "--spec", "cheese_affordability", "--run", "r3", *common, "--focus-from",
                  str(ledger_file), "--plan-only")
        assert bad.code == 2 and "no ledger for spec 'cheese_affordability'" in bad.err
    finally:
        server.shutdown()
