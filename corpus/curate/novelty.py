"""How new a document is against the documents already accepted for its clause: 1 − the estimated MinHash Jaccard
to the nearest one, with the curation dedup's signatures (`minhash.SignatureComputer`, default `DedupSettings`).
The optimizer's corpus-quality metric and the corpus diversity report read it."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

from msm.corpus.curate.config import DedupSettings
from msm.corpus.curate.minhash import SignatureComputer


class NoveltyIndex:
    """Signatures of the documents already accepted, per clause, with the curation dedup's MinHash."""

    def __init__(self, settings: DedupSettings | None = None):
        self.settings = settings or DedupSettings()
        width = 32 if self.settings.hash_scheme == "affine32" else 64
        permutations = MinHash(num_perm=self.settings.num_perm, seed=self.settings.seed,
                               scheme=self.settings.hash_scheme).permutations
        self.compute = SignatureComputer(self.settings.shingle_words, width, permutations)
        self.by_clause: dict[str, tuple[list[str], np.ndarray]] = {}

    def add(self, clause_id: str, doc_ids: list[str], texts: list[str]) -> None:
        if not texts:
            return
        _, signatures = self.compute(texts)
        ids, existing = self.by_clause.get(clause_id, ([], signatures[:0]))
        self.by_clause[clause_id] = (ids + list(doc_ids), np.concatenate([existing, signatures]))

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.by_clause.values())

    def nearest(self, clause_id: str, text: str) -> tuple[float, str | None]:
        """(estimated Jaccard to the nearest accepted document of the clause, its id); (0, None) if none."""
        ids, signatures = self.by_clause.get(clause_id, ([], None))
        if not ids:
            return 0.0, None
        _, signature = self.compute([text])
        similarity = (signatures == signature[0]).mean(axis=1)
        best = int(np.argmax(similarity))
        return float(similarity[best]), ids[best]
