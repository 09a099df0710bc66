"""The corpus: document records and the run store at this level; its stages in sub-packages —
generate/ (the DSPy program and its two engines), optimize/ (DSPy optimizers against a corpus-quality metric),
curate/ (signals, rules, dedup; local and Ray engines) and snapshot/ (frozen, hashed Parquet + manifest)."""
