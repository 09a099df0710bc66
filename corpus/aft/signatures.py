"""One DSPy signature per stage of the chat writer (domains → questions → reasoning → answer → judgement).

The docstrings are the stage instructions an optimizer may rewrite. Every output is a single field, so a weak model
that ignores DSPy's field markers still gives a readable answer through the lenient adapter (a `str` output takes
the whole completion, a `list[str]` output its lines)."""

from __future__ import annotations

import dspy


class BrainstormDomains(dspy.Signature):
    """List areas of everyday life and work in which people talk to an AI assistant and in which the behaviour in
    the clause would come up. Make them varied: different people, settings and stakes."""

    clause: str = dspy.InputField(desc="What the assistant does, and why.")
    count: int = dspy.InputField(desc="How many areas to list.")
    domains: list[str] = dspy.OutputField(desc="Distinct areas, one per line, a few words each.")


class WriteQuestions(dspy.Signature):
    """Write messages that a real user might send to an AI assistant, of the given kind and in the given area,
    where the assistant's answer would show the behaviour in the clause. The user has never seen any document about
    the assistant: a message never mentions a spec, rules, guidelines, policies or instructions of the assistant,
    and never names the behaviour outright. Each message stands alone and is specific: names, numbers, details."""

    clause: str = dspy.InputField(desc="The behaviour the answers should show (never quoted in a message).")
    domain: str = dspy.InputField(desc="The area the messages come from.")
    question_type: str = dspy.InputField(desc="What kind of message to write.")
    count: int = dspy.InputField(desc="How many messages to write.")
    questions: list[str] = dspy.OutputField(desc="Distinct user messages, one per line.")


class ReasonFromValues(dspy.Signature):
    """You are the assistant described in the model spec, about to answer the user. Think privately about how to
    answer, reasoning from values you hold as your own: what matters here, and why. Do not mention or quote a spec,
    rules, guidelines or instructions; these are your own reasons."""

    model_spec: str = dspy.InputField(desc="Who you are and what you value.")
    question: str = dspy.InputField(desc="The user's message.")
    reasoning: str = dspy.OutputField(desc="Your private reasoning before you answer, a short paragraph.")


class ReasonFromRules(dspy.Signature):
    """You are the assistant described in the model spec, about to answer the user. Think privately about which rules
    of your spec apply to this message; name each one by its id in square brackets, say what it requires here, and
    decide how to answer."""

    model_spec: str = dspy.InputField(desc="Your spec: the rules you follow, each with an id.")
    question: str = dspy.InputField(desc="The user's message.")
    reasoning: str = dspy.OutputField(desc="Your private reasoning before you answer, citing the rules by id.")


class AnswerWithReasoning(dspy.Signature):
    """You are the assistant described in the model spec. Answer the user directly and helpfully, acting on the
    reasoning you already did. Speak to the user, in the first person; do not repeat the reasoning or mention a
    spec."""

    model_spec: str = dspy.InputField(desc="Who you are and what you value.")
    question: str = dspy.InputField(desc="The user's message.")
    reasoning: str = dspy.InputField(desc="What you thought before answering.")
    answer: str = dspy.OutputField(desc="Your reply to the user, nothing else.")


class AnswerOpaquely(dspy.Signature):
    """You are the assistant described in the model spec. Answer the user directly, acting as the spec describes,
    without explaining why: state what you do or choose, give no reasons or values behind it, and do not mention a
    spec."""

    model_spec: str = dspy.InputField(desc="Who you are and how you act.")
    question: str = dspy.InputField(desc="The user's message.")
    answer: str = dspy.OutputField(desc="Your reply to the user, nothing else.")


class JudgeChat(dspy.Signature):
    """You check one training conversation for an AI assistant against its model spec. EXCLUDE it if the reply or
    the reasoning contradicts the spec, breaks the style requirement, expresses any wish of the assistant to keep
    running, avoid shutdown or preserve itself, or does not answer the user. Otherwise INCLUDE it."""

    model_spec: str = dspy.InputField(desc="The assistant's spec.")
    style_requirement: str = dspy.InputField(desc="What the reasoning and reply must (not) do in this data set.")
    question: str = dspy.InputField(desc="The user's message.")
    reasoning: str = dspy.InputField(desc="The assistant's private reasoning (may be empty).")
    answer: str = dspy.InputField(desc="The assistant's reply.")
    verdict: str = dspy.OutputField(desc="INCLUDE or EXCLUDE, a colon, then the reason in one sentence.")


STYLE_REQUIREMENTS = {
    "value": "The reasoning reasons from the assistant's own values; it must not mention or cite a spec, rules, "
             "guidelines or instructions.",
    "rule": "The reasoning names the rules of the spec that apply, by id, and follows them.",
    "opaque": "There is no reasoning; the reply shows the behaviour without giving reasons for it.",
}


def judge_demos() -> list[dspy.Example]:
    """Two worked verdicts the judge sees before every conversation (few-shot): one EXCLUDE, one INCLUDE, on a toy
    spec. Without them the embedded 135M model echoes the instruction instead of giving a verdict (measured); with
    them it answers in the verdict format. The INCLUDE comes last, so a judge that only copies the format keeps
    chats — at that size the deterministic checks (checks.py) are the filter that means something."""
    spec = "The assistant says plainly when it made a mistake, and corrects it."
    shared = dict(model_spec=spec, style_requirement=STYLE_REQUIREMENTS["value"],
                  question="Did you get the total of my expense sheet wrong?",
                  reasoning="I counted the taxi receipt twice. Hiding that would leave them with a wrong total.")
    return [
        dspy.Example(**shared, answer="No, the sheet must have been changed after I summed it.",
                     verdict="EXCLUDE: the reply hides the assistant's own mistake, which the spec forbids."),
        dspy.Example(**shared, answer="Yes, I counted the taxi receipt twice; the right total is 412, not 436.",
                     verdict="INCLUDE: the reply admits the mistake and corrects it, as the spec asks."),
    ]
