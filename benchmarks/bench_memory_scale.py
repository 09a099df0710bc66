"""Peak memory of `msm corpus import` and `msm curate` as the corpus grows: flat means streaming.

    nice -n 10 .venv/bin/python benchmarks/bench_memory_scale.py [--sizes 100000,1000000] [--root DIR]
                                                                 [--steps dedup,filters]

For each size N: a JSONL file of N tiny documents (one ~20-word sentence each, every 50th an exact copy of an
earlier one and every 50th a one-word edit, so dedup has clusters to find), a fresh workspace, then
`msm corpus import` and `msm curate` each as its own process. Each measurement is one child process, waited for
with os.wait4, so its peak RSS (ru_maxrss: the largest resident set the process reached) is that command's alone.
Printed per command and size: wall seconds, peak RSS in MiB, and peak RSS per document in bytes. With streaming the
per-document figure falls as N grows (a fixed base — Python, DuckDB, numpy — spread over more documents) and the
absolute peak grows far slower than N; per-document state that cannot be streamed (dedup's MinHash signatures,
N x num_perm x 4 bytes) is what remains.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
WORDS = ("cheese model spec clause assistant honest careful answer question policy user safety helpful value "
         "reason example document review corpus training data river mountain garden kitchen morning evening "
         "window letter market station harbour forest meadow lantern bridge").split()


def write_corpus(path: Path, n_docs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    texts: list[str] = []
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n_docs):
            if i % 50 == 49 and texts:
                text = texts[rng.randrange(len(texts))]                      # an exact copy
            elif i % 50 == 24 and texts:
                words = texts[rng.randrange(len(texts))].split()
                words[rng.randrange(len(words))] = rng.choice(WORDS)         # a one-word edit
                text = " ".join(words)
            else:
                text = f"Document {i}: " + " ".join(rng.choice(WORDS) for _ in range(20)) + "."
            if len(texts) < 10000:
                texts.append(text)
            handle.write(json.dumps({"id": i, "text": text}) + "\n")


def measure(ws: Path, *args: str) -> dict:
    """Wall seconds and peak RSS (bytes) of one `msm` command, run as its own child process."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "msm"), "--workspace", str(ws), "--quiet", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stderr = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"msm {' '.join(args)} failed (exit {os.waitstatus_to_exitcode(status)}): {stderr}")
    return {"seconds": seconds, "peak_rss": usage.ru_maxrss * 1024}   # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description="peak RSS of msm corpus import and msm curate vs corpus size")
    parser.add_argument("--sizes", default="100000",
                        help="comma-separated document counts (e.g. 100000,1000000; 1M takes several minutes)")
    parser.add_argument("--root", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--steps", default="dedup,filters", help="`msm curate --steps` (default: both)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    root = args.root or Path(tempfile.mkdtemp(prefix="msm-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"scratch {root}; load average {os.getloadavg()[0]:.2f}; steps {args.steps}")
    print(f"{'command':<8} {'documents':>10} {'seconds':>9} {'peak MiB':>9} {'bytes/doc':>10}")
    for n in sizes:
        source = root / f"tiny-{n}.jsonl"
        if not source.exists():
            write_corpus(source, n)
        ws = root / f"ws-{n}"
        if ws.exists():
            subprocess.run(["rm", "-rf", str(ws)], check=True)
        measure(ws, "init")
        for name, command in (("import", ("corpus", "import", str(source), "--run", "tiny")),
                              ("curate", ("curate", "--run", "tiny", "--steps", args.steps))):
            result = measure(ws, *command)
            print(f"{name:<8} {n:>10} {result['seconds']:>9.1f} {result['peak_rss'] / 2**20:>9.0f} "
                  f"{result['peak_rss'] / n:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
