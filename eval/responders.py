"""Where the generate-mode suites get the responses of the model under evaluation: from the weights in-process
(batched `generate`) or from an OpenAI-compatible endpoint (`transformers serve`, vLLM, an API) with concurrent
requests. Both take chat conversations and give `n` responses per conversation, with the tokens they cost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from msm.errors import BadInput, MsmError


@dataclass(frozen=True, slots=True)
class Conversation:
    user: str
    system: str | None = None

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "user", "content": self.user}]


@dataclass
class Usage:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt: int, completion: int) -> None:
        self.requests += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def public(self, where: str) -> dict:
        return {"source": where, "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


class Responder(Protocol):
    usage: Usage

    def describe(self) -> str: ...

    def respond(self, conversations: Sequence[Conversation], *, n: int, temperature: float, max_new_tokens: int,
                seed: int, advance: Callable[[int], None]) -> list[list[str]]: ...


class InProcessResponder:
    """Left-padded batched sampling from the loaded weights (see `msm.eval.sampling`)."""

    def __init__(self, lm, tokenizer, *, batch_size: int = 8):
        self.lm, self.tokenizer, self.batch_size = lm, tokenizer, batch_size
        self.usage = Usage()

    def describe(self) -> str:
        return "in-process"

    def respond(self, conversations, *, n, temperature, max_new_tokens, seed, advance):
        from msm.eval.lm_scoring import encode_context, render_chat
        from msm.eval.sampling import sample_responses

        prompts = [render_chat(self.tokenizer, c.user, c.system) for c in conversations]
        out = sample_responses(self.lm, self.tokenizer, prompts, n=n, temperature=temperature,
                               max_new_tokens=max_new_tokens, seed=seed, batch_size=self.batch_size, advance=advance)
        for prompt, answers in zip(prompts, out):
            prompt_tokens = len(encode_context(self.tokenizer, prompt))
            for answer in answers:
                self.usage.add(prompt_tokens, len(self.tokenizer(answer, add_special_tokens=False)["input_ids"]))
        return out


class EndpointResponder:
    """Chat completions from an OpenAI-compatible server; `model` is the id the server serves (for
    `transformers serve` the model directory's path). Requests run `concurrency` at a time; a failed request after
    the client's retries fails the run, because a missing response cannot be scored honestly."""

    def __init__(self, base_url: str, model: str, *, concurrency: int = 8, api_key: str | None = None,
                 timeout_s: float = 600.0):
        if not base_url.startswith(("http://", "https://")):
            raise BadInput(f"--model-api-base {base_url!r}: expected an http(s):// URL")
        from openai import OpenAI

        # local OpenAI-compatible servers accept any key; the client insists on one being set
        self.client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=2)
        self.base_url, self.model, self.concurrency = base_url, model, concurrency
        self.usage = Usage()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"endpoint {self.base_url}"

    def _one(self, conversation: Conversation, temperature: float, max_new_tokens: int, seed: int) -> str:
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=conversation.messages(), temperature=temperature,
                max_tokens=max_new_tokens, seed=seed)
        except Exception as exc:  # the openai client raises many types (connection, status, timeout)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise MsmError(f"model endpoint {self.base_url} ({self.model}): {type(exc).__name__}: {first}") from None
        usage = reply.usage
        with self._lock:
            self.usage.add(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0))
        return (reply.choices[0].message.content or "").strip()

    def respond(self, conversations, *, n, temperature, max_new_tokens, seed, advance):
        jobs = [(c, s) for c in range(len(conversations)) for s in range(n)]
        out: list[list[str]] = [[""] * n for _ in conversations]

        def run(job: tuple[int, int]) -> None:
            c, s = job
            # a distinct seed per sample, so servers that honour `seed` give n different samples, repeatably
            out[c][s] = self._one(conversations[c], temperature, max_new_tokens, seed * 100_003 + c * 1_000 + s)
            advance(1)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(run, jobs))
        return out


def responder_for(model, settings) -> Responder:
    """The responder a generate-mode suite uses for `model` (a LoadedModel)."""
    if model.api_base:
        return EndpointResponder(model.api_base, model.name, concurrency=settings.batch_size)
    return InProcessResponder(model.lm, model.tokenizer, batch_size=settings.batch_size)
