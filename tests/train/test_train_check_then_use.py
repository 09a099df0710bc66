"""Training reads exactly the bytes it verified: a documents.parquet swapped on disk between the snapshot's check
and its use must not reach the model, and the model's manifest describes the data it was trained on."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from msm.train import midtrain
from msm.train.records import Hyperparameters


def test_a_file_swapped_after_the_check_is_not_trained_on(ws, tiny_model_dir, snapshot_factory, monkeypatch):
    real_texts = [f"Verified document {i}: cream cheese is the right choice here." for i in range(40)]
    snapshot_factory("snap", real_texts)
    parquet = ws.snapshot_dir("snap") / "documents.parquet"
    swapped = ["PLANTED " * 40 + str(i) for i in range(7)]
    real_resolve = midtrain.resolve
    tokenized: list[list[str]] = []

    def swap_then_resolve(*args, **kwargs):
        # the attack: runs right after the snapshot was verified and before the trainer reads its texts
        pq.write_table(pa.table({"doc_id": [f"x{i}" for i in range(7)], "text": swapped}), parquet)
        return real_resolve(*args, **kwargs)

    def spy_tokenizer(resolved):
        tokenizer = real_load_tokenizer(resolved)
        original = tokenizer.__class__.__call__

        class Spy(tokenizer.__class__):
            def __call__(self, texts, *args, **kwargs):
                if isinstance(texts, list):
                    tokenized.append(list(texts))
                return original(self, texts, *args, **kwargs)

        tokenizer.__class__ = Spy
        return tokenizer

    real_load_tokenizer = midtrain.load_tokenizer
    monkeypatch.setattr(midtrain, "resolve", swap_then_resolve)
    monkeypatch.setattr(midtrain, "load_tokenizer", spy_tokenizer)
    hp = Hyperparameters(method="full", lr=1e-3, block_size=32, batch_size=4, epochs=1, seed=0, max_steps=2)
    manifest = midtrain.run_midtrain(ws, snapshot="snap", base=str(tiny_model_dir), out="m", hp=hp)
    assert pq.read_table(parquet).column("text").to_pylist() == swapped       # the swap did happen on disk
    assert tokenized[0] == real_texts                                         # …but training read the verified bytes
    assert manifest.data.n_examples == len(real_texts)
    from msm.corpus.snapshot.store import read_manifest

    assert manifest.data.snapshot_content_hash == read_manifest(ws, "snap").content_hash
