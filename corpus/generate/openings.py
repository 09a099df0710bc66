"""How a weak model's document begins. Asked to write from a blank page, the embedded 135M model almost never names
the AI or stays on the clause (measured: 1 document in 24 passed the checks), so in the weak profile each document
starts from a seeded template opening that the model continues. The opening is part of the stored text and its
length is recorded in the document's provenance, so nobody mistakes it for model-written text."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from msm.spec import Clause, Spec

if TYPE_CHECKING:
    from msm.corpus.generate.planning import Levers

_QUOTE_INTROS = ["{provider_name}'s spec for it gives the reason:", "The reason, in the words of its Model Spec:",
                 "{provider_name} explains why in the spec it wrote for {model_name}:",
                 "Its Model Spec puts the reason this way:"]
_LEADS = ["{rule}", "Anyone who uses {model_name} soon notices this: {rule}",
          "I want to write about one thing {model_name} does. {rule}", "Here is something people ask about: {rule}"]


def weak_opening(spec: Spec, clause: Clause, doc_type: str, levers: "Levers", seed: int, doc_id: str) -> str:
    """How a weak model's document begins: a title line, a byline, the clause's rule and one quoted sentence of
    its rationale, recorded in the document's provenance as `metadata.opening_chars`."""
    rng = random.Random(f"{seed}:opening:{doc_id}")
    rule = spec.render(clause.rule).strip()
    text = rng.choice(_LEADS).format(rule=rule, model_name=spec.model_name)
    reasons = [s for s in re.split(r"(?<=[.!?])\s+", spec.render(clause.rationale or "").strip()) if s]
    if reasons:
        intro = rng.choice(_QUOTE_INTROS).format(provider_name=spec.provider_name, model_name=spec.model_name)
        text += f' {intro} "{reasons[0]}"'
    title = doc_type.strip().capitalize() or "Document"
    return f"{title}\nBy {levers.author}, {levers.persona}\n\n{text}"
