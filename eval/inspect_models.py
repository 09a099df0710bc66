"""msm model names as Inspect models: the model under evaluation and the grader of an Inspect task.

  a model directory, local:smollm2-135m, a workspace model   ->  hf/<directory>   (Inspect's Hugging Face provider,
                                                                                     in-process)
  NAME with --model-api-base / openai/NAME with an api base   ->  openai-api/msm/NAME at that base URL
  any other provider/model string (openai/gpt-4.1, anthropic/…) ->  that Inspect model as named

The directory path is the Hugging Face provider's model name on purpose: a bare name would make transformers ask
the Hub for it, which fails (slowly, with retries) on a machine without network."""

from __future__ import annotations

from typing import Any

from msm.errors import BadInput


GRADER_ROLE = "grader"  # Inspect keeps the grader's tokens apart under this role, even when it is the same model


def _endpoint(served_name: str, base_url: str, config: Any, role: str | None):
    from inspect_ai.model import get_model

    if not base_url.startswith(("http://", "https://")):
        raise BadInput(f"{base_url!r}: expected an http(s):// URL for an OpenAI-compatible endpoint")
    # openai-api/<service>/<model>: Inspect's generic OpenAI-compatible provider; local servers accept any key
    return get_model(f"openai-api/msm/{served_name}", base_url=base_url, api_key="not-needed", config=config, role=role)


def _local(directory: str, config: Any, role: str | None):
    from inspect_ai.model import ModelInfo, get_model, set_model_info

    name = f"hf/{directory}"
    # Inspect looks up model info for its usage events and, for a name its database lacks, instantiates the
    # provider to ask — for the Hugging Face provider that loads the weights a second time. Registering the info
    # (measured: the 135M model loaded three times for two models without this) makes the lookup a dict hit.
    set_model_info(name, ModelInfo(organization="local", model=directory))
    if config.temperature == 0:
        # transformers refuses temperature 0 when sampling; greedy decoding is what temperature 0 means
        return get_model(name, config=config.model_copy(update={"temperature": None}), role=role, do_sample=False)
    return get_model(name, config=config, role=role)


def model_under_evaluation(name: str, location: str | None, api_base: str | None, config: Any, *, seed: int):
    """The seed goes to the in-process model only, which seeds its generator once, so the epochs of a condition
    differ and the run repeats. An endpoint would get the same seed with every request and answer every epoch
    alike, so served runs go unseeded."""
    if api_base:
        return _endpoint(name, api_base, config, None)
    if location is None:
        raise BadInput(f"--model {name}: Inspect suites need a model directory on this machine or --model-api-base")
    return _local(location, config.merge({"seed": seed}), None)


def grader_model(name: str, api_base: str | None, ws, config: Any):
    """The grader from any model string `--lm` accepts, in Inspect's `grader` role."""
    from msm import models
    from msm.lm.backends import is_local_name

    if is_local_name(name, ws):
        if api_base:
            raise BadInput(f"--grader-api-base {api_base}: only for API graders, not the local model {name!r}")
        resolved = models.resolve(name, ws)
        if resolved.source == "hub":
            raise BadInput(f"--grader-lm {name}: hub models are not local; pull them into a directory first")
        return _local(resolved.location, config, GRADER_ROLE)
    if "/" not in name:
        raise BadInput(f"--grader-lm {name!r}: not a local model and not a provider/model string such as "
                       "openai/gpt-4.1-mini")
    if api_base:
        provider, _, served = name.partition("/")
        if provider != "openai":
            raise BadInput(f"--grader-lm {name}: with --grader-api-base, name the served model as openai/<name>")
        return _endpoint(served, api_base, config, GRADER_ROLE)
    from inspect_ai.model import get_model

    return get_model(name, config=config, role=GRADER_ROLE)
