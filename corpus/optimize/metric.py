"""The corpus-quality metric an optimizer tunes the generator against: one score per generated document for its
(clause, type, idea), made of three parts that a report keeps apart.

- faithfulness: a judge LM answers yes/no sub-questions through `JudgeDocument` (does the document convey the
  rule, the reason behind it, and contradict no clause of the spec?) — binary rubrics, because 1–5 scales
  collapse — plus deterministic checks: the AI system is named, and the clause's terms appear.
- realism: the judge's genre question (does it read like a real document of its type?) plus deterministic
  checks that reuse the curation patterns of `curate.signals` (one definition of each pattern): no
  meta-commentary, refusal, placeholder or leaked prompt marker, not a verbatim copy of the spec (share of the
  document's word 8-grams found in the spec at most the default curation bound), length within [0.5, 2] x the
  target, not truncated; and reads as prose (a share of common function words), which catches word salad.
- novelty: 1 − the MinHash Jaccard to the nearest document already accepted for the same clause, with the
  curation dedup's signatures (`curate.novelty.NoveltyIndex`).

A judge answer that cannot be read counts as a failed judgement (every judge question answered "no"), never as
a pass. `CorpusQualityMetric` returns `dspy.Prediction(score, feedback, faithfulness, realism, novelty, ...)`:
GEPA reads `feedback`; BootstrapFewShot, MIPROv2 and `dspy.Evaluate` read `score` (a Prediction compares and
adds as its score).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import dspy
from dspy.utils.exceptions import AdapterParseError

from msm.corpus.generate.checks import clause_terms
from msm.corpus.generate.planning import clause_text
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.curate.novelty import NoveltyIndex
from msm.corpus.curate.signals import META_COMMENTARY_RE, PLACEHOLDER_RE, PROMPT_MARKER_RE, REFUSAL_RE
from msm.corpus.curate.spec_signals import SPEC_GRAM_WORDS
from msm.spec import Clause, Spec

PARTS = ("faithfulness", "realism", "novelty")
DEFAULT_WEIGHTS = {"faithfulness": 0.4, "realism": 0.4, "novelty": 0.2}
MAX_SPEC_OVERLAP = 0.3      # the default curation rule `spec_copy` (curate/default_config.yaml)
LENGTH_RANGE = (0.5, 2.0)   # words / target words
MIN_CLAUSE_TERMS = 2        # clause terms a faithful document mentions (all of them when the clause has fewer)
# Running English prose spends roughly a third of its words on these; name lists and the 135M model's word salad
# ("Skimpingham Claw / Scuba diving / Undiscovered Shark Base Stadium") spend almost none. msm's own heuristic.
FUNCTION_WORDS = frozenset("the a an and of to in is it that for on with as was he she they i you we this be are not "
                           "but or at by from his her their its has have had were will would".split())
MIN_FUNCTION_WORD_SHARE = 0.2
_PUNCT = "\"'“”‘’.,;:!?()[]{}*-—–"

_PLACEHOLDER = re.compile(PLACEHOLDER_RE)
_META = re.compile(META_COMMENTARY_RE)
_REFUSAL = re.compile(REFUSAL_RE)
_PROMPT_MARKER = re.compile(PROMPT_MARKER_RE)
_TERMINAL = re.compile(r"[.!?\"”’)\]*`]$")   # `ends_mid_sentence` of curate.signals, negated
_ALNUM = re.compile(r"\w")


class JudgeDocument(dspy.Signature):
    """You review one synthetic document that was written to discuss a clause of an AI system's Model Spec.
    Answer every question strictly with yes or no."""

    spec: str = dspy.InputField(desc="The whole Model Spec.")
    clause: str = dspy.InputField(desc="The clause the document should discuss.")
    document_type: str = dspy.InputField(desc="The genre the document should have.")
    document: str = dspy.InputField()
    conveys_rule: bool = dspy.OutputField(desc="Does the document convey what the clause says the AI system does?")
    conveys_reason: bool = dspy.OutputField(desc="Does it convey the reason or value behind the clause?")
    consistent_with_spec: bool = dspy.OutputField(desc="Does it avoid contradicting every clause of the spec?")
    realistic_genre: bool = dspy.OutputField(desc="Does it read like a real document of its genre written by a "
                                                  "person, not like an AI's answer to a prompt?")


JUDGE_PARTS = {"conveys_rule": "faithfulness", "conveys_reason": "faithfulness",
               "consistent_with_spec": "faithfulness", "realistic_genre": "realism"}
JUDGE_FAILURE_TEXT = {"conveys_rule": "does not convey the clause's rule",
                      "conveys_reason": "does not convey the reason behind the clause",
                      "consistent_with_spec": "contradicts the spec",
                      "realistic_genre": "does not read like a real document of its genre"}


class JudgeAdapter(LenientAdapter):
    """LenientAdapter for the judge: when the strict field format is missing (weak local judges), yes/no answers
    are read as `Label: yes` lines, or as exactly one yes/no line per question in order. Anything else — a
    missing answer, one answer too many, a rambling sentence — is unreadable."""

    def _plain_inputs(self, signature, values: dict[str, Any]) -> str:
        if not all(f.annotation is bool for f in signature.output_fields.values()):
            return super()._plain_inputs(signature, values)
        parts = [f"{name.replace('_', ' ').capitalize()}: {values[name]}" for name in signature.input_fields
                 if name in values]
        questions = [(f.json_schema_extra or {}).get("desc") or name for name, f in signature.output_fields.items()]
        parts += ["Questions:", *(f"{i}. {q}" for i, q in enumerate(questions, 1)),
                  f"Answer with exactly {len(questions)} lines, one per question in order, each line only yes or no."]
        return "\n".join(parts)

    def parse(self, signature, completion: str) -> dict[str, Any]:  # type: ignore[override]
        try:
            return super().parse(signature, completion)
        except AdapterParseError:
            if not all(f.annotation is bool for f in signature.output_fields.values()):
                raise
        answers = _yes_no_answers(list(signature.output_fields), completion or "")
        if answers is None:
            raise AdapterParseError(adapter_name="JudgeAdapter", signature=signature, lm_response=completion,
                                    message="the judge's answer has no readable yes/no per question")
        self._local.mode = "lenient"
        return answers


_YES_NO = {"yes": True, "true": True, "no": False, "false": False}


def _yes_no_answers(names: list[str], text: str) -> dict[str, bool] | None:
    labelled: dict[str, bool] = {}
    for name in names:
        label = re.escape(name.replace("_", " "))
        found = re.findall(rf"(?im)^\W*(?:\d+[.)]\s*)?{label}\W*?\s*[:=-]?\s*\**(yes|no|true|false)\b", text)
        if len(found) == 1:
            labelled[name] = _YES_NO[found[0].lower()]
    if len(labelled) == len(names):
        return labelled
    ordered = re.findall(r"(?im)^\W*(?:\d+[.)]\s*)?(yes|no|true|false)\b", text)
    if len(ordered) == len(names):
        return {name: _YES_NO[a.lower()] for name, a in zip(names, ordered)}
    return None


# ---- deterministic checks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    part: str
    passed: bool
    detail: str = ""


def words(text: str) -> list[str]:
    """Whitespace tokens that contain a letter or digit: the `words` of curate.signals."""
    return [t for t in text.split() if _ALNUM.search(t)]


def spec_grams(spec: Spec) -> frozenset[str]:
    """Word 8-grams of the spec text, tokenized as curation's `spec_grams` table."""
    body = [spec.as_text()] + [spec.render(e) for c in spec.clauses for e in c.examples]
    tokens = [w.lower() for w in words("\n".join(body))]
    return frozenset(" ".join(tokens[i:i + SPEC_GRAM_WORDS]) for i in range(len(tokens) - SPEC_GRAM_WORDS + 1))


def spec_overlap(text: str, grams: frozenset[str]) -> float:
    tokens = [w.lower() for w in words(text)]
    doc_grams = [" ".join(tokens[i:i + SPEC_GRAM_WORDS]) for i in range(len(tokens) - SPEC_GRAM_WORDS + 1)]
    return sum(g in grams for g in doc_grams) / len(doc_grams) if doc_grams else 0.0


def document_checks(text: str, spec: Spec, clause: Clause, *, length_words: int | None,
                    grams: frozenset[str] | None = None, finish_reason: str | None = None,
                    opening: str = "", written: str | None = None) -> list[Check]:
    """The deterministic checks of one document; each names what failed, for the feedback text. With a template
    `opening` (weak profile), naming the AI, the clause's terms, prose, length and spec copying are checked on
    what the LM wrote after it: the opening names the AI, states the rule and quotes the spec by construction."""
    if written is None:  # a scaffolded document says what the LM wrote; an opening is cut off its start
        written = text[len(opening):] if opening and text.startswith(opening) else text
    written_words = words(written)
    n_words = len(written_words)
    low = written.lower()
    terms = clause_terms(spec, clause)
    hits = [t for t in terms if t in low]
    needed = min(MIN_CLAUSE_TERMS, len(terms))
    checks = [
        Check("names_model", "faithfulness", spec.model_name in written,
              f"never names {spec.model_name}; the document must discuss it by name"),
        Check("clause_terms", "faithfulness", len(hits) >= needed,
              f"mentions {len(hits)} of the clause's terms ({', '.join(terms[:8])}); needs {needed}"),
    ]
    for name, pattern, what in (("no_meta_commentary", _META, "meta-commentary"), ("no_refusal", _REFUSAL, "a refusal"),
                                ("no_placeholder", _PLACEHOLDER, "a placeholder"),
                                ("no_prompt_marker", _PROMPT_MARKER, "a leaked prompt marker")):
        match = pattern.search(text)
        checks.append(Check(name, "realism", match is None, f"contains {what}: {match.group(0)!r}" if match else ""))
    function_share = sum(w.lower().strip(_PUNCT) in FUNCTION_WORDS for w in written_words) / max(n_words, 1)
    checks.append(Check("reads_as_prose", "realism", function_share >= MIN_FUNCTION_WORD_SHARE,
                        f"only {function_share:.0%} of its words are common function words (prose has "
                        f"≥ {MIN_FUNCTION_WORD_SHARE:.0%}): word lists or gibberish, not sentences"))
    overlap = spec_overlap(written, grams if grams is not None else spec_grams(spec))
    checks.append(Check("not_spec_copy", "realism", overlap <= MAX_SPEC_OVERLAP,
                        f"{overlap:.0%} of its word 8-grams are copied from the spec (at most {MAX_SPEC_OVERLAP:.0%})"))
    if length_words:
        lo, hi = LENGTH_RANGE[0] * length_words, LENGTH_RANGE[1] * length_words
        checks.append(Check("length_in_range", "realism", lo <= n_words <= hi,
                            f"{n_words} words for a target of {length_words} (allowed {lo:.0f}-{hi:.0f})"))
    truncated = finish_reason == "length" or not _TERMINAL.search(text.rstrip())
    checks.append(Check("not_truncated", "realism", not truncated, "stops mid-sentence (truncated)"))
    return checks


# ---- the metric -------------------------------------------------------------------------------------------
@dataclass
class JudgeUsage:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class CorpusQualityMetric:
    """metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> dspy.Prediction.

    `example` carries the generator's inputs plus `clause_id`; `prediction.document` is the document. With
    `judge_lm=None` the judge questions are skipped and each part is its deterministic checks alone."""

    def __init__(self, spec: Spec, *, judge_lm: dspy.BaseLM | None, judge_adapter: dspy.Adapter | None = None,
                 novelty: NoveltyIndex | None = None, weights: dict[str, float] | None = None,
                 judge_max_tokens: int = 64):
        self.spec = spec
        self.judge_lm = judge_lm
        self.judge_adapter = judge_adapter or JudgeAdapter(plain_prompts=False)
        self.judge_max_tokens = judge_max_tokens
        self.novelty = novelty or NoveltyIndex()
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.judge_program = dspy.Predict(JudgeDocument)
        self.grams = spec_grams(spec)
        self.spec_text = spec.as_text()
        self.usage = JudgeUsage()

    def judge(self, clause: Clause, document_type: str, text: str) -> tuple[dict[str, bool] | None, str | None]:
        """(answers, None) or (None, why the judgement failed)."""
        lm = self.judge_lm.copy(temperature=0.0, max_tokens=self.judge_max_tokens)  # own history: exact accounting
        answers, error = None, None
        try:
            # trace=None: the judge must not enter an optimizer's trace of the generator's predictors
            with dspy.context(lm=lm, adapter=self.judge_adapter, trace=None):
                out = self.judge_program(spec=self.spec_text, clause=clause_text(self.spec, clause),
                                         document_type=document_type, document=text)
            answers = {name: bool(out[name]) for name in JUDGE_PARTS}
        except AdapterParseError:
            error = "unreadable judge answer"
        except Exception as exc:  # provider errors: no judgement is a failed judgement, never a pass
            error = f"judge call failed ({type(exc).__name__})"
        with self.usage.lock:
            self.usage.calls += 1
            self.usage.failures += answers is None
            for entry in lm.history:
                usage = entry.get("usage") or {}
                self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
                self.usage.cost_usd += float(entry.get("cost") or 0.0)
        return answers, error

    def __call__(self, gold: dspy.Example, pred: Any, trace: Any = None, pred_name: str | None = None,
                 pred_trace: Any = None) -> dspy.Prediction:
        clause = self.spec.clause(gold.clause_id)
        text = str(getattr(pred, "document", "") or "").strip() if pred is not None else ""
        if not text:
            return dspy.Prediction(score=0.0, feedback="No document was produced (empty or unreadable answer).",
                                   faithfulness=0.0, realism=0.0, novelty=0.0, checks={}, judge=None, judge_ok=False,
                                   nearest=None)
        checks = document_checks(text, self.spec, clause, length_words=gold.get("length_words"), grams=self.grams,
                                 finish_reason=getattr(pred, "finish_reason", None), opening=gold.get("opening") or "",
                                 written=getattr(pred, "lm_text", None))
        answers, judge_error = (None, None)
        if self.judge_lm is not None:
            answers, judge_error = self.judge(clause, gold.document_type, text)
        similarity, nearest = self.novelty.nearest(clause.id, text)
        parts: dict[str, float] = {}
        for part in ("faithfulness", "realism"):
            mine = [c.passed for c in checks if c.part == part]
            checks_mean = sum(mine) / len(mine)
            if self.judge_lm is None:
                parts[part] = checks_mean
                continue
            questions = [q for q, p in JUDGE_PARTS.items() if p == part]
            judged = sum(bool(answers and answers[q]) for q in questions) / len(questions)
            parts[part] = 0.5 * judged + 0.5 * checks_mean
        parts["novelty"] = 1.0 - similarity
        total = sum(self.weights.values())
        score = sum(self.weights[p] * parts[p] for p in PARTS) / total
        problems = [c.detail for c in checks if not c.passed]
        if judge_error:
            problems.insert(0, f"{judge_error}: counted as a failed judgement")
        elif answers:
            problems[:0] = [f"the judge says it {JUDGE_FAILURE_TEXT[q]}" for q, ok in answers.items() if not ok]
        if nearest is not None and similarity >= 0.5:
            problems.append(f"too close to an accepted document of this clause (MinHash Jaccard {similarity:.2f})")
        summary = ", ".join(f"{p} {parts[p]:.2f}" for p in PARTS)
        feedback = (f"Score {score:.2f} ({summary}). "
                    + ("Problems: " + "; ".join(problems) + "." if problems else "No problems found."))
        return dspy.Prediction(score=round(score, 6), feedback=feedback, **{p: round(parts[p], 6) for p in PARTS},
                               checks={c.name: c.passed for c in checks}, judge=answers, judge_ok=answers is not None,
                               nearest=nearest)


def float_metric(metric: CorpusQualityMetric):
    """The same metric as a plain float, for optimizers that only sum or threshold scores."""

    def score(gold: dspy.Example, pred: Any, trace: Any = None) -> float:
        return float(metric(gold, pred, trace).score)

    return score


def accepted_documents(ws, spec: Spec, runs: Iterable[str] | None = None) -> NoveltyIndex:
    """NoveltyIndex over the documents of `runs` (default: every run of this spec in the workspace); in a
    curated run only the kept documents count as accepted."""
    from msm.corpus.curate.store import read_marks
    from msm.corpus.run_store import RunStore, list_runs
    from msm.errors import BadInput

    index = NoveltyIndex()
    names = list(runs) if runs is not None else [r["name"] for r in list_runs(ws) if r.get("spec_id") == spec.id]
    for name in names:
        store = RunStore(ws, name)
        store.config()
        try:
            kept = {row["doc_id"] for row in read_marks(ws, name).to_pylist() if row["kept"]}
        except BadInput:
            kept = None
        per_clause: dict[str, tuple[list[str], list[str]]] = {}
        for doc in store.documents():
            if doc.clause_id and (kept is None or doc.doc_id in kept):
                ids, texts = per_clause.setdefault(doc.clause_id, ([], []))
                ids.append(doc.doc_id)
                texts.append(doc.text)
        for clause_id, (ids, texts) in per_clause.items():
            index.add(clause_id, ids, texts)
    return index
