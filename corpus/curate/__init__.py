"""`msm curate`: quality signals and filter rules (DuckDB), exact and MinHash near-duplicate detection; every document
is marked, none deleted. The steps are defined once (steps.py, dedup.py) and run by an engine (engine.py: local;
ray_engine.py: Ray)."""
