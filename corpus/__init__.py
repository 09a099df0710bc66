"""The corpus: document records and the run store at this level; its stages in sub-packages —
lmrun/ (the generic layer under every LM-written run: work log, LM caller, item and batch engines; the LMs themselves
are msm.lm, a room below),
generate/ (the DSPy program that writes documents, a walk over lmrun), aft/ (the DSPy program that writes alignment
fine-tuning chats, another walk over lmrun), optimize/ (DSPy optimizers against a corpus-quality metric),
curate/ (signals, rules, dedup; local and Ray engines) and snapshot/ (frozen, hashed Parquet + manifest)."""

import os

# LiteLLM fetches its model price list from GitHub at import unless told to use the copy it ships; offline that
# costs ~25 s of retries on every run. The shipped copy is what cost accounting uses. Set here, before any module
# of the corpus package imports dspy (and with it LiteLLM).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
