"""Review app on a 100k-document workspace: time to first render of the queue page, and from a decision to the
next document, measured with Streamlit's AppTest (the app's script runs in-process exactly as under `streamlit run`;
the browser's own paint time is not included).

    .venv/bin/python benchmarks/bench_review_app.py [--n-docs 100000] [--decisions 20]

The workspace (one run of N documents of ~250 words over 7 clauses, curation marks with near-duplicate clusters,
2,000 earlier decisions by other reviewers) is built once under benchmarks/results/ and reused.
Goals: first render <= 1.5 s, decision -> next document <= 300 ms.

Printed: the index refresh `msm review` does before it serves (corpus/run_index.py; the first one after the run
grew parses the new lines, later ones only read the index), the cold first render (server just started: the
process has read nothing else yet), the first render of a new session on a running server (what a reviewer who
signs in sees), decision -> next (accept and reject), and the scrypt password check as a yardstick of how busy the
machine is (151 ms idle).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from streamlit.testing.v1 import AppTest

# AppTest sets session state from outside a script run; Streamlit logs a harmless warning for each.
logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(lambda record: False)

from msm.corpus.records import DocumentRecord
from msm.corpus.run_store import RunStore
from msm.corpus import decisions
from msm.review_app import accounts
from msm.corpus.decisions import Decision
from msm.spec import load_spec, resolve_spec_path
from msm.workspace import Workspace, utc_now

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "review_app" / "app.py")
RUN = "bench"
WORDS = ("the model cheddar brie price budget family picnic value honest answer user question assistant spec "
         "clause rule because reason affordable america local market shop guide recipe evening table friend "
         "story explain choose prefer cost store chef kitchen weekly plan careful trust").split()


def build_workspace(root: Path, n_docs: int) -> Workspace:
    marker = root / f"built-{n_docs}"
    ws = Workspace.open(root, create=True)
    if marker.exists():
        return ws
    spec_path = resolve_spec_path("cheese_affordability")
    spec = load_spec(spec_path)
    clauses = [c.id for c in spec.clauses]
    rng = random.Random(0)
    store = RunStore(ws, RUN)
    store.create(kind="imported", config={"spec_path": str(spec_path)}, spec_id=spec.id, spec_hash=spec.content_hash)
    now = utc_now()

    def docs():
        for i in range(n_docs):
            words = rng.choices(WORDS, k=rng.randint(180, 320))
            text = "\n\n".join(" ".join(words[j:j + 60]).capitalize() + "." for j in range(0, len(words), 60))
            yield DocumentRecord(doc_id=f"d{i:06d}", run=RUN, text=text, created_at=now, stage="import",
                                 spec_id=spec.id, clause_id=clauses[i % len(clauses)], doc_type="blog post",
                                 idea=f"idea {i % 997}", persona="a shopper", lm="bench")
    store.append(docs())

    # Curation marks in `msm curate`'s layout: every 10th document is a near-duplicate of its neighbour.
    ids = [f"d{i:06d}" for i in range(n_docs)]
    directory = ws.run_dir(RUN) / "curation" / "20261127T000000-bench"
    directory.mkdir(parents=True, exist_ok=True)
    dup = [i % 10 == 1 for i in range(n_docs)]
    pq.write_table(pa.table({
        "doc_id": ids, "kept": [not d for d in dup], "rules": ["near_duplicate" if d else "" for d in dup],
        "dropped_by": [["near_duplicate"] if d else [] for d in dup],
        "flagged_by": [["few_key_terms"] if i % 7 == 0 else [] for i in range(n_docs)],
        "cluster_id": [ids[i - 1] if dup[i] or (i + 1 < n_docs and dup[i + 1]) else None for i in range(n_docs)],
        "is_representative": [not d for d in dup], "duplicate_of": [ids[i - 1] if dup[i] else None for i in range(n_docs)],
        "exact_key": ids}), directory / "marks.parquet")
    pq.write_table(pa.table({"doc_id": ids, "word_count": [250] * n_docs}), directory / "signals.parquet")
    (ws.run_dir(RUN) / "curation" / "CURRENT").write_text(directory.name, encoding="utf-8")

    accounts.add_user(ws, "bench", "bench-password-1", "reviewer")
    for other in ("r1", "r2"):
        accounts.add_user(ws, other, "other-password-1", "reviewer")
    # Earlier work by other reviewers, so the decision store is not empty.
    for i in range(2000):
        decisions.record(ws, Decision(run=RUN, doc_id=ids[rng.randrange(n_docs)], doc_version=0,
                                      reviewer=("r1", "r2")[i % 2], action=("accept", "reject")[i % 5 == 0],
                                      reason="off_spec" if i % 5 == 0 else None))
    marker.write_text("ok")
    return ws


_server_components = None


def server_components():
    """Streamlit's component discovery (it reads every installed package's metadata): a real server does it
    once at start-up, before any visitor; AppTest would do it again for every new session."""
    global _server_components
    if _server_components is None:
        from streamlit.components.v2.component_manager import BidiComponentManager

        _server_components = BidiComponentManager()
        _server_components.discover_and_register_components(start_file_watching=False)
    return _server_components


def new_session() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at._bidi_component_manager = server_components()
    at.session_state["user"] = accounts.ReviewUser(name="bench", role="reviewer")   # signed in (login timed apart)
    at.session_state["run"] = RUN
    return at


def timed_run(at: AppTest) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"app raised: {at.exception[0].value}")
    return elapsed


def shown_doc(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Document `"))


def decide(at: AppTest, action: str) -> float:
    before = shown_doc(at)
    if action == "accept":
        next(b for b in at.button if b.label == "Accept").click()
    else:
        next(b for b in at.button if b.label == "Reject").click()
    elapsed = timed_run(at)
    if shown_doc(at) == before:
        raise SystemExit(f"{action} did not move to the next document")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-docs", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=20, help="Decisions timed (half accept, half reject).")
    parser.add_argument("--workspace", type=Path, default=ROOT / "benchmarks" / "results" / "review-workspace")
    args = parser.parse_args()

    start = time.perf_counter()
    ws = build_workspace(args.workspace / str(args.n_docs), args.n_docs)
    print(f"workspace: {ws.root} ({args.n_docs:,} documents; ready in {time.perf_counter() - start:.1f} s)")
    os.environ["MSM_WORKSPACE"] = str(ws.root)

    start = time.perf_counter()
    login_ok = accounts.authenticate(ws, "bench", "bench-password-1") is not None
    login_s = time.perf_counter() - start
    assert login_ok

    print(f"1-minute load average           : {os.getloadavg()[0]:8.1f}")
    start = time.perf_counter()
    server_components()
    print(f"streamlit start: component scan  : {(time.perf_counter() - start) * 1000:8.0f} ms   (once per server, "
          "before the first visitor)")
    # What `msm review` does before it starts the server: bring each run's document index up to date.
    from msm.corpus.run_index import refresh

    start = time.perf_counter()
    refresh(RunStore(ws, RUN))
    print(f"msm review start: index refresh  : {(time.perf_counter() - start) * 1000:8.0f} ms   (up to date: reads it; "
          "else indexes the new lines)")
    cold = timed_run(at := new_session())
    print(f"queue first render, cold process : {cold * 1000:8.0f} ms   (opens the run's index and marks; goal <= 1500 ms)")
    warm = [timed_run(new_session()) for _ in range(3)]
    print(f"queue first render, new session  : {statistics.median(warm) * 1000:8.0f} ms   median of 3 "
          f"(goal <= 1500 ms)")
    times = {"accept": [], "reject": []}
    for i in range(args.decisions):
        action = "accept" if i % 2 == 0 else "reject"
        times[action].append(decide(at, action))
    both = times["accept"] + times["reject"]
    for action, values in times.items():
        print(f"decision -> next ({action:6s})     : {statistics.median(values) * 1000:8.0f} ms   median of "
              f"{len(values)}, max {max(values) * 1000:.0f} ms")
    print(f"decision -> next (all)          : {statistics.median(both) * 1000:8.0f} ms   median "
          f"(goal <= 300 ms), p90 {sorted(both)[int(0.9 * (len(both) - 1))] * 1000:.0f} ms")
    print(f"password check at sign-in       : {login_s * 1000:8.0f} ms   (scrypt, once per session)")
    recorded = [e for e in decisions.all_decisions(ws, RUN) if e.reviewer == "bench"]
    print(f"decisions recorded by the bench : {len(recorded)} (this run and earlier runs of the bench)")


if __name__ == "__main__":
    sys.exit(main())
