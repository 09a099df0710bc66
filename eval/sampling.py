"""Sampled responses from a local causal LM: left-padded batches, n samples per prompt, seeded per batch so the
same seed, prompts and batch size give the same text."""

from __future__ import annotations

from typing import Callable, Sequence

from msm.eval.lm_scoring import encode_context


def sample_responses(lm, tokenizer, prompts: Sequence[str], *, n: int = 1, temperature: float = 0.7,
                     max_new_tokens: int = 256, seed: int = 0, batch_size: int = 8,
                     advance: Callable[[int], None] = lambda k: None) -> list[list[str]]:
    """`prompts` are rendered chat prompts; returns n responses per prompt. temperature 0 means greedy (and then
    the n samples are identical, so n is best left at 1)."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(lm.parameters()).device
    jobs = [(p, s) for p in range(len(prompts)) for s in range(n)]
    encoded = [encode_context(tokenizer, text) for text in prompts]
    out: list[list[str]] = [[""] * n for _ in prompts]
    for batch_index, start in enumerate(range(0, len(jobs), batch_size)):
        batch = jobs[start:start + batch_size]
        width = max(len(encoded[p]) for p, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (p, _) in enumerate(batch):
            ids = encoded[p]
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
        torch.manual_seed(seed * 100_003 + batch_index)
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature > 0 \
            else {"do_sample": False}
        with torch.no_grad():
            generated = lm.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                    max_new_tokens=max_new_tokens, pad_token_id=pad_id, **kwargs)
        for row, (p, s) in enumerate(batch):
            out[p][s] = tokenizer.decode(generated[row, width:], skip_special_tokens=True).strip()
        advance(len(batch))
    return out
