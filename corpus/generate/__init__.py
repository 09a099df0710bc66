"""Generation: a DSPy program writes documents that discuss a spec's clauses into a run (see api.py for the library
entry point `generate(workspace, GenerateRequest)`)."""

import os

# LiteLLM fetches its model price list from GitHub at import unless told to use the copy it ships; offline that
# costs ~25 s of retries on every run. The shipped copy is what cost accounting uses. Set here, before any module
# of this package imports dspy (and with it LiteLLM).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
