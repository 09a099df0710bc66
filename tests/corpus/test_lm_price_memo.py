"""The API backend memoizes DSPy's per-answer price lookup: same answers as DSPy's own, each caller its own copy."""

from __future__ import annotations

from dspy.clients import costs, model_metadata

from msm.lm.backends import build_backend


def test_price_lookup_is_memoized_and_answers_as_dspy_does() -> None:
    build_backend("openai/served-model", ws=None, api_base="http://127.0.0.1:9/v1")
    build_backend("openai/served-model", ws=None, api_base="http://127.0.0.1:9/v1")   # installed once
    assert getattr(costs.model_info, "msm_memoized", False)
    for provider, model in (("openai", "gpt-4.1-mini"), ("openai", "served-model"), ("anthropic", "claude-3-5-haiku")):
        assert costs.model_info(provider, model) == model_metadata.model_info(provider, model)
    first = costs.model_info("openai", "gpt-4.1-mini")
    first["input_cost_per_token"] = -1.0
    assert costs.model_info("openai", "gpt-4.1-mini") == model_metadata.model_info("openai", "gpt-4.1-mini")
