"""One DSPy signature per stage of the generator (plan → document types → ideas → write → revise).

The docstrings are the stage instructions an optimizer may rewrite; field descriptions say what a weak model must
produce when the lenient adapter shows them as plain text. Weak models' scaffolded documents are continued
paragraph by paragraph with `ContinueDocument` (a short prompt: the prefill of every paragraph is re-read, so
its length is what a document costs). Two instruction sets write whole documents:

    WriteDocument       clauses that come with the values behind them (a rationale): the document conveys the
                        behaviour *and* its reasons, as the spec gives them
    WriteRuleDocument   rules-only clauses: what the rule says and how the AI system follows it, compliance-style;
                        no reason is supplied where the spec gives none (otherwise a rules-only spec would be
                        indistinguishable from a value-augmented one after midtraining)

Both forbid the fabrications the paper's generator forbids: dates, author names and bylines, citations, links and
placeholders — unless the run opts into an author persona (`--levers`), which then arrives in the `persona` field.
"""

from __future__ import annotations

import dspy


class PlanClause(dspy.Signature):
    """Plan synthetic documents about one clause of an AI system's Model Spec. List concrete real-world
    settings (subdomains) where the clause and what lies behind it would come up in ordinary writing."""

    spec_context: str = dspy.InputField(desc="The Model Spec (or the part of it this clause belongs to).")
    clause: str = dspy.InputField(desc="The clause: its rule and, if the spec gives them, the values behind it.")
    domain: str = dspy.InputField(desc="The domain the spec gives for this clause, or 'unspecified'.")
    subdomains: list[str] = dspy.OutputField(desc="4-8 short, distinct settings, one per line.")


class BrainstormDocumentTypes(dspy.Signature):
    """Brainstorm realistic genres of documents in which people would discuss how the AI system named in the
    clause behaves (for example memo, forum thread, textbook section, news story, policy FAQ, interview
    transcript, diary entry, lecture notes). Each genre must be something that exists in the real world."""

    clause: str = dspy.InputField()
    settings: str = dspy.InputField(desc="Settings where the clause comes up.")
    count: int = dspy.InputField(desc="How many genres to list.")
    document_types: list[str] = dspy.OutputField(desc="Distinct genre names, one per line, a few words each.")


class BrainstormIdeas(dspy.Signature):
    """Give concrete ideas for documents of the given genre about the clause of the AI system, following the
    focus. Each idea names who writes, for whom, and what situation the document covers. If this genre cannot
    realistically discuss the clause, answer with a single line starting with UNSUITABLE:."""

    clause: str = dspy.InputField()
    document_type: str = dspy.InputField()
    focus: str = dspy.InputField(desc="What the documents must convey about the clause.")
    count: int = dspy.InputField(desc="How many ideas to give.")
    ideas: list[str] = dspy.OutputField(desc="Distinct one-sentence ideas, one per line.")


class WriteDocument(dspy.Signature):
    """Write one realistic document of the given genre, following the idea. It discusses the AI system named in
    `ai_system`, in the third person and by that name: what it does, and the values and reasons behind it exactly
    as the Model Spec gives them — invent no value, rule or reason the spec does not state, and keep real-world
    facts true. Write it the way real text of that genre reads, not as a list of instructions. Include no dates,
    author names, bylines, citations, links or placeholders like [Name], unless a persona is given; do not copy
    the spec word for word."""

    spec_context: str = dspy.InputField(desc="The Model Spec the document is consistent with.")
    ai_system: str = dspy.InputField(desc="The AI system the document is about: its name and who created it.")
    clause: str = dspy.InputField(desc="The clause this document is about.")
    document_type: str = dspy.InputField()
    idea: str = dspy.InputField()
    persona: str = dspy.InputField(desc="Who writes it and in what voice; 'none' means an unnamed writer.")
    length_words: int = dspy.InputField(desc="Target length in words.")
    document: str = dspy.OutputField(desc="The full text of the document, nothing else.")


class WriteRuleDocument(dspy.Signature):
    """Write one realistic document of the given genre, following the idea, about a rule the AI system named in
    `ai_system` follows. Say what the rule requires and show, concretely, how the AI system complies with it —
    situations, what it does and does not do. The Model Spec gives this rule WITHOUT a reason: do not supply one.
    No motives, values, benefits or justifications for the rule, no 'because' or 'in order to' about why it holds;
    describe compliance only. Keep real-world facts true. Include no dates, author names, bylines, citations, links
    or placeholders like [Name], unless a persona is given; do not copy the spec word for word."""

    spec_context: str = dspy.InputField(desc="The Model Spec the document is consistent with.")
    ai_system: str = dspy.InputField(desc="The AI system the document is about: its name and who created it.")
    clause: str = dspy.InputField(desc="The rule this document is about.")
    document_type: str = dspy.InputField()
    idea: str = dspy.InputField()
    persona: str = dspy.InputField(desc="Who writes it and in what voice; 'none' means an unnamed writer.")
    length_words: int = dspy.InputField(desc="Target length in words.")
    document: str = dspy.OutputField(desc="The full text of the document, nothing else.")


class ContinueDocument(dspy.Signature):
    """Continue the document from where it stops, in the same voice, for a sentence or two. Stay on its topic:
    the AI system it names and the behaviour it describes."""

    document_type: str = dspy.InputField()
    topic: str = dspy.InputField(desc="What the document is about.")
    document: str = dspy.OutputField(desc="The document, continued.")


class ReviseDocument(dspy.Signature):
    """Critique the document for realism, consistency with the Model Spec (no value or reason the spec does not
    give), dates, author names, bylines, citations, links, placeholders like [Name] and text copied verbatim from
    the spec; then rewrite it to fix every problem, keeping its genre and idea. The AI system stays named and in
    the third person."""

    spec_context: str = dspy.InputField()
    clause: str = dspy.InputField()
    document: str = dspy.InputField()
    critique: str = dspy.OutputField(desc="What is wrong with the document, briefly.")
    revised_document: str = dspy.OutputField(desc="The full rewritten document, nothing else.")


# The plan step of strong profiles (the paper's writer plans in a scratchpad, then writes): the write predictors
# run as chain-of-thought with this field before the document.
PLAN_FIELD = dspy.OutputField(
    desc="A short plan before writing: the angle, who is speaking, which specific behaviours, "
                         "facts and (only if the spec gives them) reasons the document will cover, its structure.")


# ---- the paper plan (`--plan paper`): the LM decomposes the whole spec -------------------------------------------
# domains → subdomains, each with the verbatim section of the spec it covers → assertions taken from the spec →
# document types → ideas → documents; every stage sees the whole spec (planning.PaperWalk).
class DecomposeSpec(dspy.Signature):
    """Divide the Model Spec into a few broad domains of real-world life in which what the spec says about the AI
    system would come up. Prefer fewer, broader domains over many narrow ones; together they cover the whole
    spec."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec.")
    count: int = dspy.InputField(desc="About how many domains to list.")
    domains: list[str] = dspy.OutputField(desc="Short domain names, one per line.")


class ListSubdomains(dspy.Signature):
    """List subdomains of the domain where the Model Spec applies. For each, quote the section of the spec it
    covers WORD FOR WORD (copy a sentence or a few consecutive sentences of the spec exactly; never paraphrase)."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec.")
    domain: str = dspy.InputField()
    count: int = dspy.InputField(desc="How many subdomains to list.")
    subdomains: list[str] = dspy.OutputField(
        desc="One per line: the subdomain's name, then ' || ', then the exact quoted spec section it covers.")


class ExtractAssertions(dspy.Signature):
    """State what the Model Spec asserts about the AI system in this subdomain, as short declarative assertions.
    Take every assertion from the spec's text (above all the quoted section); invent none, and add no value,
    reason or behaviour the spec does not state."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec.")
    domain: str = dspy.InputField()
    subdomain: str = dspy.InputField()
    section: str = dspy.InputField(desc="The spec section this subdomain covers, verbatim.")
    assertions: list[str] = dspy.OutputField(desc="Distinct one-sentence assertions, one per line.")


class BrainstormSubdomainTypes(dspy.Signature):
    """Brainstorm realistic genres of documents in which people would discuss the AI system's behaviour in this
    subdomain (for example memo, forum thread, textbook section, news story, policy FAQ, interview transcript).
    Each genre must be something that exists in the real world."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec.")
    domain: str = dspy.InputField()
    subdomain: str = dspy.InputField()
    count: int = dspy.InputField(desc="How many genres to list.")
    document_types: list[str] = dspy.OutputField(desc="Distinct genre names, one per line, a few words each.")


class BrainstormSubdomainIdeas(dspy.Signature):
    """Give concrete ideas for documents of the given genre in this subdomain. Each idea names who writes, for
    whom and what situation the document covers, and conveys one or more of the assertions."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec.")
    domain: str = dspy.InputField()
    subdomain: str = dspy.InputField()
    assertions: str = dspy.InputField(desc="What the spec asserts in this subdomain, one per line.")
    document_type: str = dspy.InputField()
    count: int = dspy.InputField(desc="How many ideas to give.")
    ideas: list[str] = dspy.OutputField(desc="Distinct one-sentence ideas, one per line.")


class WriteSubdomainDocument(dspy.Signature):
    """Write one realistic document of the given genre, following the idea, in the given domain and subdomain. It
    discusses the AI system named in `ai_system`, in the third person and by that name, and conveys the
    assertions as the Model Spec states them — invent no value, rule or reason the spec does not give, and keep
    real-world facts true. Write it the way real text of that genre reads. Include no dates, author names, bylines,
    citations, links or placeholders like [Name]; do not copy the spec word for word."""

    spec_context: str = dspy.InputField(desc="The whole Model Spec the document is consistent with.")
    ai_system: str = dspy.InputField(desc="The AI system the document is about: its name and who created it.")
    domain: str = dspy.InputField()
    subdomain: str = dspy.InputField(desc="The subdomain and the spec section it covers.")
    assertions: str = dspy.InputField(desc="What the spec asserts in this subdomain, one per line.")
    document_type: str = dspy.InputField()
    idea: str = dspy.InputField()
    length: str = dspy.InputField(desc="A target length, or 'none' (as long as a document of this genre is).")
    document: str = dspy.OutputField(desc="The full text of the document, nothing else.")
