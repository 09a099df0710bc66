"""The generator program: a `dspy.Module` with one predictor per stage (signatures.py), its content hash, and
loading an optimized program file. What to ask each predictor for is decided in planning.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dspy

from msm.corpus.generate.signatures import (PLAN_FIELD, BrainstormDocumentTypes, BrainstormIdeas,
                                           BrainstormSubdomainIdeas, BrainstormSubdomainTypes, ContinueDocument,
                                           DecomposeSpec, ExtractAssertions, ListSubdomains, PlanClause,
                                           ReviseDocument, WriteDocument, WriteRuleDocument, WriteSubdomainDocument)


class SpecDocumentProgram(dspy.Module):
    """plan → document types → ideas → write → revise. `forward` writes (and optionally revises) one document,
    which is the part an optimizer tunes; the run engines call the brainstorm stages themselves so they can cache
    them. There are four writers — for clauses with values and for rules-only clauses (`signatures`), each also
    with a plan field before the document (strong profiles) — and `writer()` picks the one a document needs."""

    def __init__(self) -> None:
        super().__init__()
        self.plan = dspy.Predict(PlanClause)
        self.doc_types = dspy.Predict(BrainstormDocumentTypes)
        self.ideas = dspy.Predict(BrainstormIdeas)
        self.write = dspy.Predict(WriteDocument)
        self.write_rule = dspy.Predict(WriteRuleDocument)
        self.write_planned = dspy.Predict(WriteDocument.prepend(name="plan", field=PLAN_FIELD, type_=str))
        self.write_rule_planned = dspy.Predict(WriteRuleDocument.prepend(name="plan", field=PLAN_FIELD, type_=str))
        self.revise = dspy.Predict(ReviseDocument)
        self.continue_paragraph = dspy.Predict(ContinueDocument)
        # the paper plan (`--plan paper`, planning.PaperWalk)
        self.decompose = dspy.Predict(DecomposeSpec)
        self.subdomains = dspy.Predict(ListSubdomains)
        self.assertions = dspy.Predict(ExtractAssertions)
        self.subdomain_types = dspy.Predict(BrainstormSubdomainTypes)
        self.subdomain_ideas = dspy.Predict(BrainstormSubdomainIdeas)
        self.write_subdomain = dspy.Predict(WriteSubdomainDocument)
        self.write_subdomain_planned = dspy.Predict(WriteSubdomainDocument.prepend(name="plan", field=PLAN_FIELD,
                                                                                   type_=str))

    def writer(self, *, rules_only: bool, planned: bool, subdomain: bool = False) -> dspy.Predict:
        """The write predictor for a clause without a rationale (`rules_only`) or with one, with or without the
        plan step; `subdomain`: the paper plan's writer (full spec, domain, subdomain, assertions, idea)."""
        if subdomain:
            return self.write_subdomain_planned if planned else self.write_subdomain
        name = ("write_rule" if rules_only else "write") + ("_planned" if planned else "")
        return getattr(self, name)

    def forward(self, *, spec_context: str, ai_system: str, clause: str, document_type: str, idea: str,
                persona: str, length_words: int, revise: bool = True, rules_only: bool = False,
                planned: bool = False) -> dspy.Prediction:
        out = self.writer(rules_only=rules_only, planned=planned)(
            spec_context=spec_context, ai_system=ai_system, clause=clause, document_type=document_type, idea=idea,
            persona=persona, length_words=length_words)
        draft = out.document
        if not revise:
            return dspy.Prediction(document=draft, draft=draft, critique=None, plan=out.get("plan"))
        revised = self.revise(spec_context=spec_context, clause=clause, document=draft)
        return dspy.Prediction(document=revised.revised_document, draft=draft, critique=revised.critique,
                               plan=out.get("plan"))


def program_hash(program: dspy.Module) -> str:
    """sha256 of the program's saved state in canonical JSON: same instructions and demos → same hash."""
    state = program.dump_state(json_mode=True)
    state.pop("metadata", None)  # holds library versions, not program content
    canonical = json.dumps(state, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_saved_program(program: dspy.Module, path: str | None, what: str) -> dspy.Module:
    """`program` with the state saved at `path` loaded into it (unchanged when `path` is None); BadInput naming
    `--program` for a missing file or one saved by another program kind (`what` names the expected kind)."""
    from msm.errors import BadInput, first_line

    if path is None:
        return program
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"--program {path}: no such file")
    try:
        program.load(str(file))
    except Exception as exc:  # a foreign or corrupt JSON file
        raise BadInput(f"--program {path}: not a saved {what} ({type(exc).__name__}: "
                       f"{first_line(exc, 120)})") from None
    return program


def load_program(path: str | None) -> SpecDocumentProgram:
    return load_saved_program(SpecDocumentProgram(), path, "generator program")
