"""Corpus stages: generate (DSPy program), import, optimize, curate (dedup + filters), snapshot."""
