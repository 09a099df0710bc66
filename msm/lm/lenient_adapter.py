"""An adapter for LMs that do not follow DSPy's `[[ ## field ## ]]` format (see docs/embedded-model.md: the embedded
135M model never does).

Parsing tries the strict ChatAdapter format first, then falls back: a signature with one `str` output takes the
whole completion; one `list[str]` output takes the bullet or numbered lines. Anything else (an empty answer, two
outputs with no markers) raises `AdapterParseError` carrying the raw text, which the run records as a failure —
an unparseable answer is never stored as a document.

With `plain_prompts=True` the prompt itself is plain text (instructions, then `Label: value` lines), because a
weak model copies the field-marker scaffolding into its answer instead of filling it in.
"""

from __future__ import annotations

import re
import threading
import typing
from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

# Output fields a weak model may leave out: a writer's plan step. When the answer has no field markers, the whole
# text is the one remaining output and these are empty — never the other way round.
OPTIONAL_OUTPUTS = frozenset({"plan"})
_BULLET = re.compile(r"^\s*(?:[-*•+]|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s+")
_MARKER = "[[ ##"


def parse_list_lines(text: str) -> list[str]:
    """Items of a bulleted/numbered list; if no line is bulleted, every non-empty line is an item."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    bulleted = [line for line in lines if _BULLET.match(line)]
    chosen = bulleted or lines
    items = [_BULLET.sub("", line, count=1).strip().strip('"').strip() for line in chosen]
    return [item for item in items if item]


def _is_list_of_str(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list and typing.get_args(annotation) in ((str,), ())


class LenientAdapter(dspy.ChatAdapter):
    def __init__(self, *, plain_prompts: bool = False, prefill_as_turn: bool = True):
        super().__init__(use_json_adapter_fallback=False)
        self.plain_prompts = plain_prompts
        # an in-process model continues a prefilled assistant turn; an OpenAI-compatible server may not (transformers
        # serve opens a new turn after it and answers in a sentence), so there the opening goes into the request
        self.prefill_as_turn = prefill_as_turn
        self._local = threading.local()

    def set_prefill(self, text: str | None) -> None:
        """Start the answer of this thread's next calls with `text` (an assistant-turn prefill): the LM continues
        it, and the single `str` output is the prefill plus the continuation. None switches it off."""
        self._local.prefill = text or None

    @property
    def prefill(self) -> str | None:
        return getattr(self._local, "prefill", None)

    @property
    def last_parse_mode(self) -> str | None:
        """'strict' or 'lenient' for the last parse in this thread (stored in document provenance)."""
        return getattr(self._local, "mode", None)

    # ---- prompts ----------------------------------------------------------------------------------
    def format(self, signature, demos, inputs):  # type: ignore[override]
        if not self.plain_prompts:
            return super().format(signature, demos, inputs)
        messages: list[dict[str, Any]] = [{"role": "system", "content": signature.instructions.strip()}]
        for demo in demos:
            messages.append({"role": "user", "content": self._plain_inputs(signature, demo)})
            messages.append({"role": "assistant", "content": self._plain_outputs(signature, demo)})
        request = self._plain_inputs(signature, inputs)
        if self.prefill and not self.prefill_as_turn:
            request += ("\n\nThe document begins as follows. Continue it from where it stops, without repeating "
                        f"it:\n\n{self.prefill}")
        messages.append({"role": "user", "content": request})
        if self.prefill and self.prefill_as_turn:
            messages.append({"role": "assistant", "content": self.prefill})
        return messages

    def _plain_inputs(self, signature, values: dict[str, Any]) -> str:
        parts = []
        for name, field in signature.input_fields.items():
            if name in values:
                parts.append(f"{_label(name)}: {values[name]}")
        wanted = []
        for name, field in _main_outputs(signature).items():
            desc = field.json_schema_extra.get("desc") if field.json_schema_extra else None
            what = _label(name) if not desc or desc.startswith("${") else f"{_label(name)} ({desc})"
            wanted.append(what)
        parts.append("Now write: " + "; ".join(wanted) + ". Answer with that only.")
        return "\n".join(parts)

    def _plain_outputs(self, signature, values: dict[str, Any]) -> str:
        out = []
        for name in signature.output_fields:
            value = values.get(name, "")
            out.append("\n".join(f"- {v}" for v in value) if isinstance(value, list) else str(value))
        return "\n\n".join(out)

    # ---- parsing ----------------------------------------------------------------------------------
    def parse(self, signature, completion: str) -> dict[str, Any]:  # type: ignore[override]
        self._local.mode = None
        outputs = _main_outputs(signature)
        empty = {name: "" for name in signature.output_fields if name not in outputs}
        if self.plain_prompts and self.prefill:
            text = (completion or "").strip()
            if len(outputs) == 1 and next(iter(outputs.values())).annotation is str and text:
                self._local.mode = "prefill"
                if _MARKER in text:  # the continuation came back in the field format after all: take the field
                    try:
                        text = str(super().parse(_without(signature, empty), text)[next(iter(outputs))]).strip()
                    except AdapterParseError:
                        pass
                text = _after_echo(text, self.prefill)
                sep = "" if self.prefill.endswith((" ", "\n")) or text[:1] in ",.;:!?" else " "
                return {**empty, next(iter(outputs)): self.prefill + sep + text}
        if _MARKER in (completion or ""):
            try:
                parsed = super().parse(signature, completion)
                self._local.mode = "strict"
                return parsed
            except AdapterParseError:
                pass
            if empty:  # the format was followed but an optional field (the plan) was left out
                try:
                    parsed = super().parse(_without(signature, empty), completion)
                    self._local.mode = "strict"
                    return {**empty, **parsed}
                except AdapterParseError:
                    pass
        text = (completion or "").strip()
        if len(outputs) == 1 and text:
            (name, field), = outputs.items()
            if field.annotation is str:
                self._local.mode = "lenient"
                return {**empty, name: text}
            if _is_list_of_str(field.annotation):
                items = parse_list_lines(text)
                if items:
                    self._local.mode = "lenient"
                    return {**empty, name: items}
        raise AdapterParseError(
            adapter_name="LenientAdapter", signature=signature, lm_response=completion,
            message="the answer could not be read as the requested fields",
        )


def _without(signature, names: dict[str, Any]):
    for name in names:
        signature = signature.delete(name)
    return signature


def _main_outputs(signature) -> dict[str, Any]:
    return {name: field for name, field in signature.output_fields.items() if name not in OPTIONAL_OUTPUTS}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _after_echo(text: str, prefill: str) -> str:
    """A model asked to continue often repeats the opening first; keep only what comes after the repeat."""
    last_paragraph = prefill.strip().split("\n\n")[-1].strip()
    for echo in (prefill.strip(), last_paragraph):
        if echo and echo in text:
            rest = text[text.index(echo) + len(echo):].strip()
            if rest:
                return rest
    return text
