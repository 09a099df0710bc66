"""The LM room: the LMs every LM-driven stage talks to — backends and retry policy, the batched in-process model, the
lenient adapter for weak models, and a scripted OpenAI-compatible server for dry runs and tests. It sits below the
stages that use it (corpus lmrun, generate, aft, optimize; eval judges and Inspect models) and imports none of them."""

import os

# LiteLLM fetches its model price list from GitHub at import unless told to use the copy it ships; offline that
# costs ~25 s of retries on every run. Set before any module of this room imports dspy (and with it LiteLLM); the
# corpus package sets it too, for its stages that import dspy directly.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
