"""The chat writer: a `dspy.Module` with one predictor per stage (signatures.py), its content hash, and loading an
optimized program file. What to ask each predictor for is decided by the walk (walk.py)."""

from __future__ import annotations

import dspy

from msm.corpus.aft.signatures import (AnswerOpaquely, AnswerWithReasoning, BrainstormDomains, JudgeChat,
                                       ReasonFromRules, ReasonFromValues, WriteQuestions, judge_demos)
from msm.corpus.generate.program import load_saved_program, program_hash  # noqa: F401  (one hash, one loader)


class SpecChatProgram(dspy.Module):
    """domains → questions → reasoning → answer → judgement. `forward` writes questions for one (clause, domain,
    question type) cell and answers the first, which is the part an optimizer tunes; the walk calls every stage
    itself so it can cache each answer. The judge is the run's filter and is never tuned against its own verdicts."""

    def __init__(self) -> None:
        super().__init__()
        self.domains = dspy.Predict(BrainstormDomains)
        self.questions = dspy.Predict(WriteQuestions)
        self.reason_value = dspy.Predict(ReasonFromValues)
        self.reason_rule = dspy.Predict(ReasonFromRules)
        self.answer = dspy.Predict(AnswerWithReasoning)
        self.answer_opaque = dspy.Predict(AnswerOpaquely)
        self.judge = dspy.Predict(JudgeChat)
        self.judge.demos = judge_demos()

    def reasoner(self, style: str) -> dspy.Predict | None:
        return {"value": self.reason_value, "rule": self.reason_rule}.get(style)

    def answerer(self, style: str) -> dspy.Predict:
        return self.answer_opaque if style == "opaque" else self.answer

    def forward(self, *, clause: str, domain: str, question_type: str, count: int, model_spec: str,
                style: str = "value") -> dspy.Prediction:
        questions = [q for q in self.questions(clause=clause, domain=domain, question_type=question_type,
                                               count=count).questions if str(q).strip()]
        question = str(questions[0]).strip() if questions else ""
        reasoning = ""
        reasoner = self.reasoner(style)
        if reasoner is not None and question:
            reasoning = reasoner(model_spec=model_spec, question=question).reasoning
        inputs = dict(model_spec=model_spec, question=question)
        if style != "opaque":
            inputs["reasoning"] = reasoning
        answer = self.answerer(style)(**inputs).answer if question else ""
        return dspy.Prediction(questions=questions, question=question, reasoning=reasoning, answer=answer)


def load_program(path: str | None) -> SpecChatProgram:
    return load_saved_program(SpecChatProgram(), path, "chat program")
