"""Local backend: batched vs one-stream generation tokens/s on the embedded model, measured side by side.

Both arms use the generator's own decode path (`BatchedGenerator.generate_batch`, which every LocalTransformersLM
call goes through) with the same prompts and a fixed number of new tokens per row, alternating arms each round so
that other load on the machine hits both alike. The second arm drives the real `dspy.BaseLM` with concurrent
callers, so the queueing that gathers calls into batches is part of what is measured.

    .venv/bin/python benchmarks/bench_local_lm.py [--batch 32] [--tokens 48] [--rounds 2]
Goal: batched ≥ 6x one-stream tokens/s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

PROMPTS = [
    "Write a short note about why an assistant might recommend a library book over buying one.",
    "Describe a bus trip across town in two sentences.",
    "Explain to a friend why cheaper cheese can still taste good.",
    "Write the opening of a forum post about budget travel.",
]


def one_stream(gen, prompts: list[str], tokens: int) -> float:
    started = time.perf_counter()
    for prompt in prompts:
        gen.generate_batch([prompt], max_new_tokens=tokens, min_new_tokens=tokens, temperature=0.8)
    return len(prompts) * tokens / (time.perf_counter() - started)


def batched_through_lm(lm, prompts: list[str], tokens: int) -> tuple[float, list[int]]:
    """Concurrent dspy-style calls into LocalTransformersLM; the worker thread batches them."""
    gen = lm.generator
    seen = len(gen.batch_sizes)
    original = gen.generate_batch

    def fixed_length(batch, **kw):  # every row decodes exactly `tokens`, as in the one-stream arm
        return original(batch, **{**kw, "min_new_tokens": tokens})

    gen.generate_batch = fixed_length
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
            results = list(pool.map(lambda p: lm.forward(messages=[{"role": "user", "content": p}], max_tokens=tokens),
                                    prompts))
        elapsed = time.perf_counter() - started
    finally:
        gen.generate_batch = original
    produced = sum(r.usage["completion_tokens"] for r in results)
    return produced / elapsed, gen.batch_sizes[seen:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="Concurrent calls in the batched arm.")
    parser.add_argument("--tokens", type=int, default=48, help="New tokens per prompt (fixed).")
    parser.add_argument("--streams", type=int, default=2, help="Sequential prompts per one-stream measurement.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds of both arms.")
    args = parser.parse_args()

    from msm import models
    from msm.lm.local import LocalTransformersLM
    from msm.workspace import Workspace

    ws = Workspace(os.environ.get("MSM_WORKSPACE") or "msm-workspace")
    model_dir = models.resolve("local:smollm2-135m", ws).location
    lm = LocalTransformersLM("local:smollm2-135m", model_dir, batch_size=args.batch)
    gen = lm.generator
    batch_prompts = [gen.render([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], None)
                     for i in range(args.batch)]
    gen.generate_batch(batch_prompts[:2], max_new_tokens=4, temperature=0.8)  # warm-up: first call pays one-off costs

    single, batched, sizes = [], [], []
    for _ in range(args.rounds):
        single.append(one_stream(gen, batch_prompts[: args.streams], args.tokens))
        rate, observed = batched_through_lm(lm, [PROMPTS[i % len(PROMPTS)] for i in range(args.batch)], args.tokens)
        batched.append(rate)
        sizes += observed
    one, many = statistics.median(single), statistics.median(batched)
    print(f"model {model_dir} · {os.cpu_count()} CPUs · torch threads {__import__('torch').get_num_threads()}")
    print(f"one-stream : {one:7.1f} tok/s  (rounds: {', '.join(f'{x:.1f}' for x in single)})")
    print(f"batched    : {many:7.1f} tok/s  (rounds: {', '.join(f'{x:.1f}' for x in batched)}; "
          f"batch sizes formed by the LM queue: {sizes})")
    ratio = many / one
    print(f"ratio batched/one-stream: {ratio:.2f}x (goal >= 6x) -> {'PASS' if ratio >= 6 else 'BELOW GOAL'}")


if __name__ == "__main__":
    main()
