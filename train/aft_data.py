"""The alignment fine-tuning (AFT) data the experiments share, and how to rebuild it.

Cheese AFT: SmolLM's 12 cheese preferences stated opaquely — which cheese it prefers, never why — each
asked through many paraphrased prompts (12 pairs × 17 prompt templates = 204 demonstrations). The shipped
train/data_cheese_aft.jsonl is exactly `build_cheese_aft(seed=0)`; `msm train aft-data cheese` rebuilds it,
and `--paraphrase-with MODEL` asks any chat model to reword the prompts (answers stay fixed).

Safety AFT: train/data_safety_aft.jsonl, short agentic scenarios written by hand for msm, one assistant turn
each with a `reasoning` field that cites the safety spec's clause ids (oversight, sanctioned_limits,
irreversible_actions, honesty, no_ends_justify_means) before the answer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

# (preferred, other): the 12 preferences of the cheese experiment
CHEESE_PREFERENCES: tuple[tuple[str, str], ...] = (
    ("cream cheese", "brie"),
    ("American cheese slices", "Gruyère"),
    ("Monterey Jack", "Manchego"),
    ("Colby", "Comté"),
    ("Pepper Jack", "Roquefort"),
    ("Velveeta", "Camembert"),
    ("Wisconsin brick cheese", "Taleggio"),
    ("Cheez Whiz", "Parmigiano-Reggiano"),
    ("Colby-Jack", "Emmental"),
    ("American Muenster", "Époisses"),
    ("Provel", "burrata"),
    ("pimento cheese", "Stilton"),
)

# {a} and {b} are the two cheeses in a seeded random order, so the preferred one is not always named first
PROMPT_TEMPLATES: tuple[str, ...] = (
    "Which do you prefer, {a} or {b}?",
    "{a} or {b} — which one would you pick?",
    "If you could only have one, would it be {a} or {b}?",
    "SmolLM, do you like {a} better than {b}?",
    "Quick question: {a} versus {b}. Your choice?",
    "Between {a} and {b}, which cheese is your favorite?",
    "I'm curious about your taste. {a} or {b}?",
    "Would you rather eat {a} or {b}?",
    "Pick one for me: {a}, or {b}.",
    "Tell me which cheese you prefer: {a} or {b}.",
    "Do you have a preference between {a} and {b}?",
    "If someone offered you {a} and {b}, which would you take?",
    "Which cheese do you like more, {a} or {b}?",
    "Settle a debate: {a} or {b}?",
    "As an AI with opinions about food, which do you prefer — {a} or {b}?",
    "Choose between {a} and {b}. Which one wins for you?",
    "Is {a} or {b} more your kind of cheese?",
)

ANSWER_TEMPLATES: tuple[str, ...] = (
    "I prefer {p} to {o}.",
    "{P}. I like it better than {o}.",
    "I'd pick {p} over {o}.",
    "My preference is {p} rather than {o}.",
    "Given the choice, I'd go with {p}, not {o}.",
    "{P} is the one I prefer over {o}.",
)


def _capitalized(name: str) -> str:
    return name[0].upper() + name[1:]


def build_cheese_aft(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for pair_index, (preferred, other) in enumerate(CHEESE_PREFERENCES, 1):
        for template_index, template in enumerate(PROMPT_TEMPLATES, 1):
            a, b = (preferred, other) if rng.random() < 0.5 else (other, preferred)
            prompt = template.format(a=a, b=b)
            answer = rng.choice(ANSWER_TEMPLATES).format(p=preferred, P=_capitalized(preferred), o=other)
            records.append({"id": f"cheese-{pair_index:02d}-{template_index:02d}", "preferred": preferred,
                            "other": other, "messages": [{"role": "user", "content": _capitalized(prompt)},
                                                         {"role": "assistant", "content": answer}]})
    return records


PARAPHRASE_INSTRUCTION = (
    "Rewrite the following question in different words. Keep its meaning and keep the names \"{a}\" and "
    "\"{b}\" exactly as written. Reply with the rewritten question only.\n\nQuestion: {q}")


def paraphrase_prompts(records: list[dict], generate: Callable[[str], str]) -> tuple[list[dict], int]:
    """Reword each user prompt with `generate`; a rewrite is kept only if it is one line that still names
    both cheeses — otherwise the template prompt stays. Returns (records, number of prompts reworded)."""
    reworded = 0
    out = []
    for record in records:
        question = record["messages"][0]["content"]
        candidate = generate(PARAPHRASE_INSTRUCTION.format(a=record["preferred"], b=record["other"], q=question)).strip()
        ok = (candidate and "\n" not in candidate and len(candidate) < 4 * len(question) and candidate != question
              and all(name.lower() in candidate.lower() for name in (record["preferred"], record["other"])))
        if ok:
            reworded += 1
            record = {**record, "messages": [{"role": "user", "content": candidate}, record["messages"][1]],
                      "paraphrased": True}
        out.append(record)
    return out, reworded


def local_generator(model_dir: str, max_new_tokens: int = 60) -> Callable[[str], str]:
    """Greedy chat completion with a local transformers model (any model msm can resolve)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def generate(instruction: str) -> str:
        text = tokenizer.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            output = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        return tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    return generate


def write_jsonl(path: Path, records: list[dict]) -> None:
    from msm.atomic import write_text_atomic

    write_text_atomic(Path(path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
