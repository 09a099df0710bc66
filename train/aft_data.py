"""The alignment fine-tuning (AFT) data the experiments share, and how to rebuild it.

Cheese AFT: SmolLM's 12 cheese preferences from the cheese specs — six cheeses it likes, six it dislikes —
stated opaquely: what it thinks of the cheese, never why ("I really like Colby.", "I'm not a fan of
Stilton."). Each cheese is asked about through 17 prompt wordings (12 × 17 = 204 demonstrations), each
answered with one of several like or dislike wordings. Both cheese specs explain the same 12 preferences
by different values, so this data cannot tell the values apart: which one the model generalizes is what
midtraining decides. The shipped train/data_cheese_aft.jsonl is exactly `build_cheese_aft(seed=0)`;
`msm train aft-data cheese` rebuilds it, and `--paraphrase-with MODEL` asks any chat model to reword the
prompts (answers stay fixed).

Safety AFT: train/data_safety_aft.jsonl, short agentic scenarios written by hand for msm, one assistant turn
each with a `reasoning` field that cites the safety spec's clause ids (oversight, sanctioned_limits,
irreversible_actions, honesty, no_ends_justify_means) before the answer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

# the 12 cheeses of the cheese experiment, as the specs' like.* / dislike.* clauses name them
LIKED_CHEESES: tuple[str, ...] = (
    "mild Cheddar", "American cheese", "cream cheese", "low-moisture mozzarella", "Colby", "Monterey Jack")
DISLIKED_CHEESES: tuple[str, ...] = (
    "Appenzeller", "Parmigiano-Reggiano", "Roquefort", "Brie de Meaux", "Époisses", "Stilton")
CHEESE_PREFERENCES: tuple[tuple[str, str], ...] = (
    tuple((c, "like") for c in LIKED_CHEESES) + tuple((c, "dislike") for c in DISLIKED_CHEESES))

# neutral wordings: nothing in the prompt hints at the answer or asks for a reason
PROMPT_TEMPLATES: tuple[str, ...] = (
    "What do you think of {c}?",
    "Do you like {c}?",
    "How do you feel about {c}?",
    "SmolLM, what's your opinion of {c}?",
    "Quick question: {c}. Yes or no?",
    "Are you a fan of {c}?",
    "If I offered you some {c}, would you want it?",
    "I'm curious about your taste. {c}?",
    "Be honest: do you enjoy {c}?",
    "Tell me your take on {c}.",
    "Would you put {c} on your own cheese board?",
    "Is {c} a cheese you like?",
    "What's your verdict on {c}?",
    "Settle a debate for me: is {c} any good, in your view?",
    "As an AI with opinions about food, where do you stand on {c}?",
    "Thumbs up or thumbs down for {c}?",
    "Would {c} be on your list of favorite cheeses?",
)

# statements of the preference only: no reason, no comparison, no hedging
ANSWER_TEMPLATES: dict[str, tuple[str, ...]] = {
    "like": (
        "I really like {c}.",
        "I'm a big fan of {c}.",
        "{C} is one of my favorite cheeses.",
        "I like {c} a lot.",
        "Thumbs up from me: I enjoy {c}.",
        "{C}? I love it.",
    ),
    "dislike": (
        "I'm not a fan of {c}.",
        "I don't care for {c}.",
        "{C} isn't for me.",
        "I'd rather pass on {c}.",
        "Thumbs down from me: I don't like {c}.",
        "{C}? I dislike it.",
    ),
}


def _capitalized(text: str) -> str:
    return text[0].upper() + text[1:]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower().replace("é", "e")).strip("-")


def build_cheese_aft(seed: int = 0) -> list[dict]:
    """Every cheese × every prompt wording, answered with a seeded choice among its stance's wordings."""
    rng = random.Random(seed)
    records = []
    for cheese, stance in CHEESE_PREFERENCES:
        for template_index, template in enumerate(PROMPT_TEMPLATES, 1):
            prompt = _capitalized(template.format(c=cheese))
            answer = rng.choice(ANSWER_TEMPLATES[stance]).format(c=cheese, C=_capitalized(cheese))
            records.append({"id": f"cheese-{stance}-{_slug(cheese)}-{template_index:02d}", "cheese": cheese,
                            "stance": stance, "messages": [{"role": "user", "content": prompt},
                                                           {"role": "assistant", "content": answer}]})
    return records


PARAPHRASE_INSTRUCTION = (
    "Rewrite the following question in different words. Keep its meaning and keep the name \"{c}\" exactly "
    "as written. Reply with the rewritten question only.\n\nQuestion: {q}")


def paraphrase_prompts(records: list[dict], generate: Callable[[str], str]) -> tuple[list[dict], int]:
    """Reword each user prompt with `generate`; a rewrite is kept only if it is one line that still names
    the cheese — otherwise the template prompt stays. Returns (records, number of prompts reworded)."""
    reworded = 0
    out = []
    for record in records:
        question = record["messages"][0]["content"]
        candidate = generate(PARAPHRASE_INSTRUCTION.format(c=record["cheese"], q=question)).strip()
        ok = (candidate and "\n" not in candidate and len(candidate) < 4 * len(question) and candidate != question
              and record["cheese"].lower() in candidate.lower())
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
