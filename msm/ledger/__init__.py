"""The clause ledger: one spec clause traced from its documents to the model's knowledge and behaviour, and the
spec-version diff built on clause hashes (`msm spec diff`). `msm generate --reuse-from` and `--focus-from` live
with generation (corpus/generate/reuse.py, focus.py): the corpus layer must not import this one.

It sits above the corpus and eval layers and only reads what they leave behind (runs, curation marks, review
decisions, snapshot manifests, eval result files):

    versions.py   clause / section hashes of two spec versions and their diff; a run's frozen spec
    table.py      the ledger rows of an experiment or a model
    report.py     the ledger section (table + plot) of the experiment report
    cli.py        `msm ledger`
"""
