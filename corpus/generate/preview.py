"""`msm generate --plan-only`: what a run would ask for and cost, before anything is spent (no LM is called).

Counts come from the run's own planning (quotas, types per clause, ideas per type, slots). Tokens are estimated:
the input of each stage from its real prompt — formatted by the adapter the run would use, for the first clause,
at about 4 characters a token — and the output from what each stage is asked for (a document of the target length
at ~1.33 tokens a word plus the plan step; list items at a typical length). Cost is LiteLLM's list price for the
model (the Batch API bills half); a model LiteLLM does not price (a self-hosted server) costs 0 and says so.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from pydantic import BaseModel

from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.planning import clause_text, idea_focus, settings_quotas, spec_context, write_inputs, Levers
from msm.corpus.generate.program import SpecDocumentProgram
from msm.corpus.generate.settings import GenerationSettings
from msm.spec import Spec

CHARS_PER_TOKEN = 4.0
TOKENS_PER_WORD = 1.33
PLAN_TOKENS = 200          # the writer's plan step
TYPE_TOKENS, IDEA_TOKENS, SUBDOMAIN_TOKENS = 8, 30, 10
CRITIQUE_TOKENS = 120


class StageProjection(BaseModel):
    calls: int
    input_tokens: int
    output_tokens: int


class PlanPreview(BaseModel):
    spec_id: str
    lm: str
    profile: str
    plan: str = "clauses"
    domains: int | None = None              # paper plan: domains asked for
    subdomains_per_domain: int | None = None
    subdomains: int | None = None           # projected (the LM decides the real count)
    clauses: int
    types_per_clause: int
    ideas_per_type: int
    documents: int
    documents_per_clause: dict[str, int]
    stages: dict[str, StageProjection]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    batch_cost_usd: float
    priced: bool
    cost_basis: str
    reuse: dict[str, Any] | None = None  # `--reuse-from`: msm.corpus.generate.reuse.ReusePlan (documents copied, not written)


def _prompt_tokens(adapter: LenientAdapter, predictor, inputs: dict[str, Any]) -> int:
    messages = adapter.format(predictor.signature, predictor.demos, inputs)
    return int(sum(len(str(m.get("content") or "")) for m in messages) / CHARS_PER_TOKEN) + 4 * len(messages)


def price(lm: str, prompt_tokens: int, completion_tokens: int) -> tuple[float, bool]:
    """(USD at LiteLLM's list price, whether LiteLLM knows the model)."""
    from msm.corpus.lmrun.rounds import batch_cost

    cost, basis = batch_cost(lm, prompt_tokens, completion_tokens)
    priced = basis != "unknown to litellm"
    return (cost / 0.5 if priced else 0.0), priced


def preview(spec: Spec, settings: GenerationSettings, program: SpecDocumentProgram | None = None) -> PlanPreview:
    program = program or SpecDocumentProgram()
    adapter = LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=True)
    if settings.plan == "paper":
        return _paper_preview(spec, settings, program, adapter)
    quota = settings_quotas(spec, settings)
    clause = spec.clauses[0]
    types_per = {cid: min(n, settings.types_per_clause) for cid, n in quota.items()}
    n_docs = sum(quota.values())
    length = mean(settings.length_choices)
    levers = Levers(persona="a writer", author="A. Writer", era="today", register="plain", length_words=int(length))
    write_in = _prompt_tokens(adapter, program.writer(rules_only=not clause.rationale,
                                                      planned=settings.plan_before_writing),
                              write_inputs(spec, settings, clause, "article", "an article about the clause", levers))
    stages: dict[str, StageProjection] = {}
    if settings.plan_with_lm:
        inputs = dict(spec_context=spec_context(spec, "full"), clause=clause_text(spec, clause), domain="unspecified")
        stages["plan"] = StageProjection(calls=len(quota), input_tokens=len(quota) * _prompt_tokens(
            adapter, program.plan, inputs), output_tokens=len(quota) * 6 * SUBDOMAIN_TOKENS)
    types_in = _prompt_tokens(adapter, program.doc_types, dict(clause=clause_text(spec, clause), settings="x",
                                                              count=settings.types_per_clause + 2))
    stages["types"] = StageProjection(calls=len(quota), input_tokens=len(quota) * types_in,
                                      output_tokens=sum((n + 2) * TYPE_TOKENS for n in types_per.values()))
    idea_calls = sum(types_per.values())
    ideas_in = _prompt_tokens(adapter, program.ideas, dict(clause=clause_text(spec, clause), document_type="article",
                                                          focus=idea_focus(clause), count=settings.ideas_per_type))
    stages["ideas"] = StageProjection(calls=idea_calls, input_tokens=idea_calls * ideas_in,
                                      output_tokens=sum(quota[c] + types_per[c] for c in quota) * IDEA_TOKENS)
    doc_tokens = int(length * TOKENS_PER_WORD)
    if settings.scaffold:
        paragraphs = mean(settings.scaffold_paragraphs)
        calls = int(n_docs * paragraphs * 1.3)  # measured on the embedded model: ~30% of continuations are re-asked
        stages["continue"] = StageProjection(calls=calls, input_tokens=calls * (write_in + 150),
                                             output_tokens=calls * settings.max_tokens.get("continue", 48))
    else:
        plan_tokens = PLAN_TOKENS if settings.plan_before_writing else 0
        stages["write"] = StageProjection(calls=n_docs, input_tokens=n_docs * write_in,
                                          output_tokens=n_docs * (doc_tokens + plan_tokens))
        if settings.revise:
            revise_in = write_in + doc_tokens
            stages["revise"] = StageProjection(calls=n_docs, input_tokens=n_docs * revise_in,
                                               output_tokens=n_docs * (doc_tokens + CRITIQUE_TOKENS))
    input_tokens = sum(s.input_tokens for s in stages.values())
    output_tokens = sum(s.output_tokens for s in stages.values())
    cost, priced = price(settings.lm, input_tokens, output_tokens)
    return PlanPreview(
        spec_id=spec.id, lm=settings.lm, profile=settings.profile, clauses=len(quota),
        types_per_clause=settings.types_per_clause, ideas_per_type=settings.ideas_per_type, documents=n_docs,
        documents_per_clause=quota, stages=stages, input_tokens=input_tokens, output_tokens=output_tokens,
        cost_usd=round(cost, 4), batch_cost_usd=round(cost / 2, 4), priced=priced,
        cost_basis="LiteLLM list price (batch: half)" if priced else "unknown to LiteLLM: not priced")


def _paper_preview(spec: Spec, settings: GenerationSettings, program: SpecDocumentProgram,
                   adapter: LenientAdapter) -> PlanPreview:
    """The paper plan's projection: domains x subdomains_per_domain subdomains (the LM decides the real count),
    every stage's prompt carrying the whole spec."""
    full = spec.as_text()
    n_domains, per = settings.paper_domains, settings.subdomains_per_domain
    units = n_domains * per
    n_docs = settings.n_docs
    per_unit = [len(range(i, n_docs, units)) for i in range(units)]
    types_per = [min(n, settings.types_per_clause) for n in per_unit]
    section = spec.render(spec.clauses[0].rule)
    subdomain = f"a subdomain\nSpec section it covers: \"{section}\""
    assertions = "\n".join(spec.render(c.rule) for c in spec.clauses[:5])
    length = mean(settings.length_choices) if settings.length_target else 800
    stages: dict[str, StageProjection] = {}

    def stage(name: str, predictor, inputs: dict[str, Any], calls: int, output_tokens: int) -> None:
        stages[name] = StageProjection(calls=calls, input_tokens=calls * _prompt_tokens(adapter, predictor, inputs),
                                       output_tokens=output_tokens)

    stage("decompose", program.decompose, dict(spec_context=full, count=n_domains), 1, n_domains * SUBDOMAIN_TOKENS)
    stage("subdomains", program.subdomains, dict(spec_context=full, domain="a domain", count=per), n_domains,
          units * (SUBDOMAIN_TOKENS + 40))
    stage("assertions", program.assertions, dict(spec_context=full, domain="a domain", subdomain="a subdomain",
                                                 section=section), units, units * 8 * 25)
    stage("types", program.subdomain_types, dict(spec_context=full, domain="a domain", subdomain=subdomain,
                                                 count=settings.types_per_clause + 2),
          units, sum((n + 2) * TYPE_TOKENS for n in types_per))
    stage("ideas", program.subdomain_ideas, dict(spec_context=full, domain="a domain", subdomain=subdomain,
                                                 assertions=assertions, document_type="article",
                                                 count=settings.ideas_per_type),
          sum(types_per), (n_docs + sum(types_per)) * IDEA_TOKENS)
    doc_tokens = int(length * TOKENS_PER_WORD)
    plan_tokens = PLAN_TOKENS if settings.plan_before_writing else 0
    write_inputs_ = dict(spec_context=full, ai_system=f"{spec.model_name}, created by {spec.provider_name}",
                         domain="a domain", subdomain=subdomain, assertions=assertions, document_type="article",
                         idea="an article", length=f"about {int(length)} words" if settings.length_target else "none")
    writer = program.writer(rules_only=False, planned=settings.plan_before_writing, subdomain=True)
    stage("write", writer, write_inputs_, n_docs, n_docs * (doc_tokens + plan_tokens))
    if settings.revise:
        revise_in = _prompt_tokens(adapter, program.revise, dict(spec_context=full, clause=subdomain, document=""))
        stages["revise"] = StageProjection(calls=n_docs, input_tokens=n_docs * (revise_in + doc_tokens),
                                           output_tokens=n_docs * (doc_tokens + CRITIQUE_TOKENS))
    input_tokens = sum(s.input_tokens for s in stages.values())
    output_tokens = sum(s.output_tokens for s in stages.values())
    cost, priced = price(settings.lm, input_tokens, output_tokens)
    return PlanPreview(
        spec_id=spec.id, lm=settings.lm, profile=settings.profile, plan="paper", domains=n_domains,
        subdomains_per_domain=per, subdomains=units, clauses=len(spec.clauses),
        types_per_clause=settings.types_per_clause, ideas_per_type=settings.ideas_per_type, documents=n_docs,
        documents_per_clause={}, stages=stages, input_tokens=input_tokens, output_tokens=output_tokens,
        cost_usd=round(cost, 4), batch_cost_usd=round(cost / 2, 4), priced=priced,
        cost_basis="LiteLLM list price (batch: half)" if priced else "unknown to LiteLLM: not priced")
