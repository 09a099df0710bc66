"""Alignment fine-tuning (AFT) data: a DSPy program writes single-turn chats that show a spec's behaviour, judged
and de-duplicated, into a run of kind `aft` — the paper's AFT data pipeline as an msm stage.

    settings.py    ChatSettings, the profiles, the question types, the resume keys
    signatures.py  one DSPy signature per stage (domains, questions, reasoning, answer, judge)
    program.py     SpecChatProgram (the predictors), its hash, loading an optimized program
    checks.py      deterministic checks on messages, reasoning and answers; reading a verdict
    questions.py   order-stable MinHash near-duplicate removal of user messages
    walk.py        ChatWalk: the `lmrun` walk of a chat run (domains → questions → dedup → chats → backfill)
    api.py         `generate_chats(workspace, AftRequest)` on msm's item or batch engine
    export.py      `{"messages": [...]}` JSONL with or without the reasoning, for `msm train sft`
    report.py      INCLUDE rate, failures, diversity of the user turns
    optimize.py    `msm optimize --program-kind aft`: the chat program against judge-INCLUDE rate and diversity
    cli.py         `msm aft generate | export | report`
"""
