"""`msm optimize`: tune the generator program's prompts with a DSPy optimizer against the corpus-quality metric."""
