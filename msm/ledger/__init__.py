"""The clause ledger: one spec clause traced from its documents to the model's knowledge and behaviour, and the
spec-version tools built on clause hashes (`msm spec diff`, `msm generate --reuse-from`, `--focus-from`).

It sits above the corpus and eval layers and only reads what they leave behind (runs, curation marks, review
decisions, snapshot manifests, eval result files):

    versions.py   clause / section hashes of two spec versions and their diff; a run's frozen spec
    reuse.py      which documents of an earlier run a new spec version may keep, and copying them
    table.py      the ledger rows of an experiment or a model
    focus.py      clause shares for a coverage-driven round, from a ledger
    report.py     the ledger section (table + plot) of the experiment report
    cli.py        `msm ledger`
"""
