"""The generator program: a `dspy.Module` with one predictor per stage (signatures.py), its content hash, and
loading an optimized program file. What to ask each predictor for is decided in planning.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dspy

from msm.corpus.generate.signatures import (BrainstormDocumentTypes, BrainstormIdeas, PlanClause, ReviseDocument,
                                             WriteDocument)


class SpecDocumentProgram(dspy.Module):
    """plan → document types → ideas → write → revise. `forward` writes (and optionally revises) one document,
    which is the part an optimizer tunes; the run engine calls the brainstorm stages itself so it can cache them."""

    def __init__(self) -> None:
        super().__init__()
        self.plan = dspy.Predict(PlanClause)
        self.doc_types = dspy.Predict(BrainstormDocumentTypes)
        self.ideas = dspy.Predict(BrainstormIdeas)
        self.write = dspy.Predict(WriteDocument)
        self.revise = dspy.Predict(ReviseDocument)

    def forward(self, *, spec_context: str, clause: str, document_type: str, idea: str, author: str,
                era_and_register: str, length_words: int, revise: bool = True) -> dspy.Prediction:
        draft = self.write(spec_context=spec_context, clause=clause, document_type=document_type, idea=idea,
                           author=author, era_and_register=era_and_register, length_words=length_words).document
        if not revise:
            return dspy.Prediction(document=draft, draft=draft, critique=None)
        revised = self.revise(spec_context=spec_context, clause=clause, document=draft)
        return dspy.Prediction(document=revised.revised_document, draft=draft, critique=revised.critique)


def program_hash(program: dspy.Module) -> str:
    """sha256 of the program's saved state in canonical JSON: same instructions and demos → same hash."""
    state = program.dump_state(json_mode=True)
    state.pop("metadata", None)  # holds library versions, not program content
    canonical = json.dumps(state, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_program(path: str | None) -> SpecDocumentProgram:
    from msm.errors import BadInput, first_line

    program = SpecDocumentProgram()
    if path is None:
        return program
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"--program {path}: no such file")
    try:
        program.load(str(file))
    except Exception as exc:  # a foreign or corrupt JSON file
        raise BadInput(f"--program {path}: not a saved generator program ({type(exc).__name__}: "
                       f"{first_line(exc, 120)})") from None
    return program
