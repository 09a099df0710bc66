"""The default Gopher, FineWeb and C4 rules decide as datatrove 0.10.1's filters do, rule by rule.

datatrove (a dev dependency) runs each filter with only one check switched on; msm runs its default config on
the same documents: planted prose, prose with the punctuation of real writing, hostile whitespace and Unicode,
and documents built to straddle every threshold (benchmarks/datatrove_peer.py builds them all)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("datatrove", reason="datatrove is a dev dependency (pip install -e '.[dev]')")
pytest.importorskip("spacy", reason="datatrove's English word tokenizer needs spacy")

_spec = importlib.util.spec_from_file_location("datatrove_peer", Path(__file__).parents[2] / "benchmarks" / "datatrove_peer.py")
peer = importlib.util.module_from_spec(_spec)
sys.modules["datatrove_peer"] = peer
_spec.loader.exec_module(peer)


@pytest.mark.slow
def test_every_default_reference_rule_agrees_with_datatrove() -> None:
    texts = peer.peer_corpus(n_planted=200, n_prose=300, seed=1)
    ours = peer.msm_decisions(texts)
    theirs = peer.datatrove_decisions(texts)
    assert set(theirs) <= set(ours)
    failures = []
    for rule in theirs:
        stats = peer.agreement(ours[rule], theirs[rule])
        assert stats["drops_datatrove"] > 0, f"{rule}: the corpus never crosses its threshold"
        if stats["agreement"] < 0.995 or stats["kappa"] < 0.95:
            failures.append(f"{rule}: agreement {stats['agreement']:.4f}, kappa {stats['kappa']:.3f}, e.g. "
                            f"{texts[stats['disagree'][0]][:200]!r}")
    assert not failures, "\n".join(failures)
