"""The generic layer under every LM-written run, whatever it produces (documents, chats).

    worklog.py   WorkLog: a run's LM-work records — stage cache (stages.jsonl), calls (calls.jsonl), failures,
                 finished records, totals, status; the run lock and the settings check of a rerun
    walk.py      what a kind of run gives the engines: StageAsk (a cached brainstorm question), PendingCall (one
                 call of an item), and the Walk protocol
    caller.py    LMCaller: one LM call with retries, backoff, Retry-After, accounting and an assistant prefill
    items.py     ItemRunner: the item engine — a walk's questions and items, `concurrency` calls in flight
    rounds.py    BatchRounds: the batch engine — rounds of Batch API requests or request files for `vllm run-batch`,
                 resumed from batches.jsonl

A kind of run is a *walk* (documents: `generate.engine.DocumentWalk`; chats: `aft.walk.ChatWalk`): it says what is
still open, asks its brainstorm questions through `ask_many`, and turns an open item into calls. Both engines run
any walk, so every kind gets resume, accounting, retries and batch generation from the same code.
"""
