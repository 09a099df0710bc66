"""API backend: documents per second at concurrency 1, 4, 16 and 64, as a fraction of the bound concurrency / latency.

The LM is the scripted OpenAI-compatible server (msm.lm.loopback_server) with a fixed added latency,
run as its own process on loopback (in this process its request handling would compete with the client for the
GIL, which a real server does not), reached through DSPy's real HTTP path. Each concurrency level gets a fresh
run; a first pass fills the run's stage cache (plan / types / ideas), then the documents are removed and the
timed pass writes them again (weak profile: no revise; a scaffolded document is several continuation calls, one
after another). With K calls in flight and a fixed latency the bound is K / latency LM calls/s; the ratio is the
calls/s measured (calls.jsonl) over that bound. Also printed: documents/s and the client's CPU per call (this
process only).

    .venv/bin/python benchmarks/bench_api_concurrency.py [--latency 1.0] [--levels 1,4,16,64] [--rounds 4]
Goals: >= 0.9 of the bound at concurrency 16, >= 0.8 at 64.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {16: 0.9, 64: 0.8}



def run_level(ws, spec, server_url: str, concurrency: int, n_docs: int) -> tuple[float, float, float]:
    from msm.corpus.generate import program as prog
    from msm.lm.backends import build_backend
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
    calls_path = store.dir / "calls.jsonl"
    calls_before = sum(1 for _ in open(calls_path)) if calls_path.exists() else 0
    cpu = time.process_time()
    elapsed = one_pass()
    calls = sum(1 for _ in open(calls_path)) - calls_before
    return n_docs / elapsed, calls / elapsed, (time.process_time() - cpu) / max(calls, 1)


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "msm.lm.loopback_server", "--port", str(port),
                               "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    server.stdout.readline()          # it prints its address once it listens
    return server, f"http://127.0.0.1:{port}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0, help="Seconds the server adds to every answer.")
    parser.add_argument("--levels", default="1,4,16,64", help="Concurrency levels, comma-separated.")
    parser.add_argument("--rounds", type=int, default=4, help="Documents per level = rounds x concurrency (min 6).")
    args = parser.parse_args()

    from msm.spec import load_spec
    from msm.workspace import Workspace

    spec = load_spec(Path(__file__).resolve().parents[1] / "tests" / "corpus" / "fruit_spec.yaml")
    server, url = start_server(args.latency)
    ws = Workspace.open(Path(tempfile.mkdtemp(prefix="msm-bench-ws-")), create=True)
    print(f"scripted server (own process) latency {args.latency:.2f} s; timed pass = write stage "
          f"(LM calls counted in calls.jsonl); 1-minute load average {os.getloadavg()[0]:.1f}")
    print("| concurrency | docs | docs/s | LM calls/s | bound (calls/s) | ratio | client CPU per call | goal |\n"
          "|---|---|---|---|---|---|---|---|")
    missed = []
    try:
        for k in (int(x) for x in args.levels.split(",")):
            n_docs = max(6, args.rounds * k)
            docs_rate, rate, cpu = run_level(ws, spec, url, k, n_docs)
            bound = k / args.latency
            goal = GOALS.get(k)
            if goal is not None and rate / bound < goal:
                missed.append(k)
            print(f"| {k} | {n_docs} | {docs_rate:.2f} | {rate:.2f} | {bound:.2f} | {rate / bound:.2f} | {cpu * 1000:.1f} ms | "
                  f"{'>= ' + str(goal) if goal else ''} |")
    finally:
        server.terminate()
    print("all goals met" if not missed else f"below goal at concurrency {missed}")


if __name__ == "__main__":
    main()
