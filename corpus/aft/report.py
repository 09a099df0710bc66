"""What `msm aft report` prints about a chat run: chats, judge verdicts and the INCLUDE rate, failures by reason,
questions per type and clause, and the diversity of the user turns (distinct-n and mean pairwise MinHash Jaccard as
curation measures them, and the share of brainstormed messages dropped as near-duplicates)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from msm.corpus.curate.diversity import distinct_n, pairwise_jaccard
from msm.corpus.run_store import RunStore


def run_counts(store: RunStore) -> dict[str, Any]:
    """Chats kept, judged (an LM verdict: INCLUDE or EXCLUDE), rejected by the judge, failed otherwise, and the
    judge's INCLUDE rate (None without an LM judge)."""
    included = sum(1 for c in store.documents() if (c.metadata.get("judge") or {}).get("verdict") == "INCLUDE")
    chats = len(store.done_ids())
    failures = list(store.failures())
    rejected = len({f.item_id for f in failures if f.permanent and f.stage == "judge"})
    failed = len({f.item_id for f in failures if f.permanent and f.stage != "judge"})
    judged = included + rejected
    return {"chats": chats, "judged": judged, "rejected": rejected, "failed_items": failed,
            "include_rate": round(included / judged, 4) if judged else None}


def chat_report(store: RunStore, question_counts: dict[str, int] | None = None) -> dict[str, Any]:
    config = store.config()
    chats = list(store.documents())
    user_turns = [next(m.content for m in c.messages if m.role == "user") for c in chats if c.messages]
    failures = list(store.failures())
    reasons = Counter(("EXCLUDE" if f.reason.startswith("EXCLUDE") else f.reason.split(" (")[0])
                      for f in failures)
    rows = [{"text": t, "clause_id": c.clause_id} for t, c in zip(user_turns, chats)]
    report: dict[str, Any] = {
        "run": store.name, "kind": config.get("kind"), "spec_id": config.get("spec_id"),
        "style": config.get("config", {}).get("style"), "target": config.get("config", {}).get("n_chats"),
        **run_counts(store),
        "per_clause": dict(Counter(c.clause_id or "-" for c in chats)),
        "per_question_type": dict(Counter(c.doc_type or "-" for c in chats)),
        "failure_reasons": dict(reasons.most_common()),
        "user_turns": {"distinct_1": distinct_n(user_turns, 1), "distinct_2": distinct_n(user_turns, 2),
                       "distinct_3": distinct_n(user_turns, 3),
                       **(pairwise_jaccard(rows) if len(rows) > 1 else {"mean_pairwise_jaccard": None})},
        "with_reasoning": sum(1 for c in chats if c.messages and any(m.reasoning for m in c.messages)),
    }
    if question_counts:
        checked = question_counts["kept"] + question_counts["exact_duplicate"] + question_counts["near_duplicate"]
        report["questions"] = question_counts
        report["near_duplicate_share"] = (round((question_counts["exact_duplicate"]
                                                 + question_counts["near_duplicate"]) / checked, 4)
                                          if checked else None)
    return report
