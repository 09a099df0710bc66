"""API backend: documents per second at concurrency 1, 4 and 16, as a fraction of the bound concurrency / latency.

The LM is the scripted OpenAI-compatible server on loopback with a fixed added latency (msm.corpus.generate.lm.loopback_server),
reached through the real LiteLLM path. Each concurrency level gets a fresh run; a first pass fills the run's stage
cache (plan / types / ideas), then the documents are removed and the timed pass writes them again, so the timed
pass makes exactly one LM call per document (weak profile: no revise) and the bound is K / latency docs/s.

    .venv/bin/python benchmarks/bench_api_concurrency.py [--latency 1.0] [--levels 1,4,16]
Goal: ≥ 0.9 of the bound at every level.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path



def run_level(ws, spec, server_url: str, concurrency: int, n_docs: int) -> float:
    from msm.corpus.generate import program as prog
    from msm.corpus.generate.lm.backends import build_backend
    from msm.corpus.generate.engine import ItemEngine, open_run
    from msm.corpus.generate.settings import GenerationSettings
    from msm.corpus.run_store import RunStore

    program = prog.SpecDocumentProgram()
    settings = GenerationSettings.for_profile("weak", spec_id=spec.id, spec_hash=spec.content_hash, lm="openai/scripted",
                                              api_base=server_url, n_docs=n_docs, seed=0,
                                              program_hash=prog.program_hash(program))
    store = RunStore(ws, f"bench-k{concurrency}")
    open_run(store, settings)
    backend = build_backend("openai/scripted", ws=ws, api_base=server_url, max_tokens=settings.max_tokens["write"],
                            cache=False)  # every timed call must reach the server

    def one_pass() -> float:
        started = time.perf_counter()
        ItemEngine(store, spec, backend, program, settings, concurrency=concurrency).run()
        return time.perf_counter() - started

    one_pass()  # fills stages.jsonl
    written = sum(1 for _ in store.documents())
    if written != n_docs:
        raise SystemExit(f"warm-up pass wrote {written}/{n_docs} documents; cannot time the write stage")
    store.documents_path.unlink()
    elapsed = one_pass()
    return n_docs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0, help="Seconds the server adds to every answer.")
    parser.add_argument("--levels", default="1,4,16", help="Concurrency levels, comma-separated.")
    parser.add_argument("--rounds", type=int, default=4, help="Documents per level = rounds x concurrency (min 6).")
    args = parser.parse_args()

    from msm.corpus.generate.lm.loopback_server import ScriptedServer
    from msm.spec import load_spec
    from msm.workspace import Workspace

    spec = load_spec(Path(__file__).resolve().parents[1] / "tests" / "corpus" / "fruit_spec.yaml")
    server = ScriptedServer(latency_s=args.latency).start()
    ws = Workspace.open(Path(tempfile.mkdtemp(prefix="msm-bench-ws-")), create=True)
    print(f"scripted server latency {args.latency:.2f} s; timed pass = write stage, one LM call per document")
    print(f"{'concurrency':>11} {'docs':>5} {'docs/s':>8} {'bound':>8} {'ratio':>6}")
    worst = float("inf")
    for k in (int(x) for x in args.levels.split(",")):
        n_docs = max(6, args.rounds * k)
        rate = run_level(ws, spec, server.base_url, k, n_docs)
        bound = k / args.latency
        worst = min(worst, rate / bound)
        print(f"{k:>11} {n_docs:>5} {rate:>8.2f} {bound:>8.2f} {rate / bound:>6.2f}")
    server.shutdown()
    print(f"worst ratio to bound: {worst:.2f} (goal >= 0.90) -> {'PASS' if worst >= 0.9 else 'BELOW GOAL'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
