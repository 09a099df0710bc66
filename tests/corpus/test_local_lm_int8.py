"""The embedded model with int8 linear layers (opt-in, MSM_LOCAL_INT8=1): it decodes, and how often it predicts
the fp32 model's next token (measured 0.38-0.41 here: why int8 is not the default)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_int8_model_decodes_and_agrees_with_fp32(embedded_model_dir: Path) -> None:
    import torch

    from msm.lm.local import BatchedGenerator

    fp32 = BatchedGenerator(str(embedded_model_dir), batch_size=2)
    int8 = BatchedGenerator(str(embedded_model_dir), batch_size=2, int8=True)
    assert any("quantized" in type(m).__module__ for m in int8.model.modules())
    assert not any("quantized" in type(m).__module__ for m in fp32.model.modules())
    text = ("The assistant explains why cheddar from the local market costs less than imported brie, and why "
            "that matters to a family that plans its weekly shopping carefully.")
    ids = fp32.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        top_fp32 = fp32.model(input_ids=ids).logits.argmax(-1)
        top_int8 = int8.model(input_ids=ids).logits.argmax(-1)
    agreement = (top_fp32 == top_int8).float().mean().item()
    assert 0.25 <= agreement < 1.0, agreement    # far from chance, far from identical
    [result] = int8.generate_batch([int8.render([{"role": "user", "content": "Name a cheese."}], None)],
                                   max_new_tokens=8, temperature=0.0)
    assert result["completion_tokens"] > 0 and result["text"].strip()
