"""Generation: a DSPy program writes documents that discuss a spec's clauses into a run (see api.py for the library
entry point `generate(workspace, GenerateRequest)`). LiteLLM's offline price list is set up in `msm.corpus`."""
