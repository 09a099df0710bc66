"""Training throughput of msm's midtrain loop vs a bare PyTorch loop, side by side in one run.

Both loops train the same model (same LoRA/full setup, same initial weights), on the same packed blocks,
with the same batch and block size and AdamW; the bare loop is forward → backward → step → zero_grad and
nothing else. Rounds alternate (bare, msm, bare, msm, ...) so load from other processes hits both; the
best round of each is compared. Also prints packing efficiency (1 - waste) on the shipped text.

    .venv/bin/python benchmarks/bench_train.py --model tiny
    .venv/bin/python benchmarks/bench_train.py --model embedded --steps 6 --rounds 1
Goal: msm / bare ≥ 0.90.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from msm.models import ResolvedModel
from msm.train.aft_data import build_cheese_aft
from msm.train.loop import Example, train_loop
from msm.train.packing import pack_documents
from msm.train.pipeline import load_model_for_training, make_accelerator
from msm.train.records import Hyperparameters, LoraSettings
from msm.train.replay import GENERIC_REPLAY, ReplaySource, read_replay_texts

REPO = Path(__file__).resolve().parents[1]


def embedded_dir() -> Path:
    for root in (os.environ.get("MSM_CACHE"), REPO / ".cache" / "msm-test", "msm-workspace/cache"):
        if root and (Path(root) / "models" / "smollm2-135m" / "config.json").exists():
            return Path(root) / "models" / "smollm2-135m"
    raise SystemExit("embedded model not pulled: run `msm models pull smollm2-135m` (or the test suite) first")


def tiny_model(out: Path, tokenizer_dir: Path) -> Path:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def packed_blocks(tokenizer, block_size: int, seed: int):
    texts = read_replay_texts(ReplaySource("generic", GENERIC_REPLAY, 0.05))
    texts += [" ".join(m["content"] for m in r["messages"]) for r in build_cheese_aft(0)]
    tokens = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return pack_documents(tokens, eos_id=tokenizer.eos_token_id, block_size=block_size, seed=seed)


def bare_loop(model, blocks: torch.Tensor, hp: Hyperparameters, steps: int, warmup: int) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.lr)
    model.train()
    started = None
    for step in range(steps):
        if step == warmup:
            started = time.perf_counter()
        rows = torch.arange(step * hp.batch_size, (step + 1) * hp.batch_size) % len(blocks)
        batch = blocks[rows]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (steps - warmup) * hp.batch_size * hp.block_size / (time.perf_counter() - started)


def msm_loop(model, blocks: torch.Tensor, hp: Hyperparameters, steps: int, warmup: int, work: Path) -> float:
    marks = {}

    def on_step(step: int, _total: int, _loss: float) -> None:
        marks[step] = time.perf_counter()

    examples = [Example(b, b) for b in blocks]
    train_loop(model, examples, hp.model_copy(update={"max_steps": steps, "epochs": 1 + steps * hp.batch_size // len(blocks)}),
               accelerator=make_accelerator(), pad_id=0, work_dir=work, on_step=on_step)
    return (steps - warmup) * hp.batch_size * hp.block_size / (marks[steps] - marks[warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny | embedded | a model directory")
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per round (first 2 are warmup)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA r=16")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        location = {"tiny": lambda: tiny_model(tmp / "tiny", embedded_dir()), "embedded": embedded_dir}.get(
            args.model, lambda: Path(args.model))()
        tokenizer = AutoTokenizer.from_pretrained(location)
        hp = Hyperparameters(method="full" if args.full else "lora", lora=None if args.full else LoraSettings(),
                             lr=1e-4, warmup_ratio=0.0, block_size=args.block_size, batch_size=args.batch_size,
                             checkpoint_every=10**9)
        blocks, stats = packed_blocks(tokenizer, args.block_size, hp.seed)
        resolved = ResolvedModel(str(location), "directory", str(location))
        warmup = 2
        results = {"bare": [], "msm": []}
        for round_index in range(args.rounds):
            for name in ("bare", "msm"):
                model = load_model_for_training(resolved, hp)
                if name == "bare":
                    results[name].append(bare_loop(model, blocks, hp, args.steps, warmup))
                else:
                    work = tmp / f"work{round_index}"
                    work.mkdir()
                    results[name].append(msm_loop(model, blocks, hp, args.steps, warmup, work))
                print(f"round {round_index + 1} {name:>4}: {results[name][-1]:,.0f} tokens/s", flush=True)
        bare, ours = max(results["bare"]), max(results["msm"])
        print(f"\nmodel={args.model} method={hp.method} batch={args.batch_size} block={args.block_size} "
              f"threads={args.threads} steps/round={args.steps}")
        print(f"packing: {stats.n_documents} documents -> {stats.n_blocks} blocks, waste {stats.waste:.2%}, "
              f"efficiency {1 - stats.waste:.2%}")
        print(f"bare PyTorch loop : {bare:,.0f} tokens/s (best of {args.rounds})")
        print(f"msm midtrain loop : {ours:,.0f} tokens/s (best of {args.rounds})")
        print(f"ratio msm/bare    : {ours / bare:.3f}  (goal >= 0.90)")


if __name__ == "__main__":
    main()
