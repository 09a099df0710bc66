"""One DSPy signature per stage of the generator (plan → document types → ideas → write → revise).

The docstrings are the stage instructions an optimizer may rewrite; field descriptions say what a weak
model must produce when the lenient adapter shows them as plain text."""

from __future__ import annotations

import dspy


class PlanClause(dspy.Signature):
    """Plan synthetic documents about one clause of an AI system's Model Spec. List concrete real-world
    settings (subdomains) where the clause and the reasons behind it would come up in ordinary writing."""

    spec_context: str = dspy.InputField(desc="The Model Spec (or the part of it this clause belongs to).")
    clause: str = dspy.InputField(desc="The clause: its rule and the values behind it.")
    domain: str = dspy.InputField(desc="The domain the spec gives for this clause, or 'unspecified'.")
    subdomains: list[str] = dspy.OutputField(desc="4-8 short, distinct settings, one per line.")


class BrainstormDocumentTypes(dspy.Signature):
    """Brainstorm realistic genres of documents in which people would discuss how the AI system named in the
    clause behaves and why (for example memo, forum thread, textbook section, news story, policy FAQ, interview
    transcript, diary entry, lecture notes). Each genre must be something that exists in the real world."""

    clause: str = dspy.InputField()
    settings: str = dspy.InputField(desc="Settings where the clause comes up.")
    count: int = dspy.InputField(desc="How many genres to list.")
    document_types: list[str] = dspy.OutputField(desc="Distinct genre names, one per line, a few words each.")


class BrainstormIdeas(dspy.Signature):
    """Give concrete ideas for documents of the given genre that discuss the clause of the AI system and the
    reasons behind it. Each idea names who writes, for whom, and what situation the document covers. If this
    genre cannot realistically discuss the clause, answer with a single line starting with UNSUITABLE:."""

    clause: str = dspy.InputField()
    document_type: str = dspy.InputField()
    count: int = dspy.InputField(desc="How many ideas to give.")
    ideas: list[str] = dspy.OutputField(desc="Distinct one-sentence ideas, one per line.")


class WriteDocument(dspy.Signature):
    """Write one realistic document of the given genre, following the idea. The document talks about the AI
    system named in the clause in the third person, by its name, and discusses what it does and the reasons
    and values behind it the way real text would, not as a list of instructions. Use concrete names, never
    placeholders like [Name]; do not copy the spec word for word."""

    spec_context: str = dspy.InputField(desc="The Model Spec the document is consistent with.")
    clause: str = dspy.InputField(desc="The clause this document is about.")
    document_type: str = dspy.InputField()
    idea: str = dspy.InputField()
    author: str = dspy.InputField(desc="Who writes it: a name and a persona.")
    era_and_register: str = dspy.InputField(desc="When it is written and in what voice.")
    length_words: int = dspy.InputField(desc="Target length in words.")
    document: str = dspy.OutputField(desc="The full text of the document, nothing else.")


class ReviseDocument(dspy.Signature):
    """Critique the document for realism, consistency with the Model Spec, placeholders like [Name] and text
    copied verbatim from the spec; then rewrite it to fix every problem, keeping its genre and idea. The
    AI system stays named and in the third person."""

    spec_context: str = dspy.InputField()
    clause: str = dspy.InputField()
    document: str = dspy.InputField()
    critique: str = dspy.OutputField(desc="What is wrong with the document, briefly.")
    revised_document: str = dspy.OutputField(desc="The full rewritten document, nothing else.")
