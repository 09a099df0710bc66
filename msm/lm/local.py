"""An in-process transformers model as a `dspy.BaseLM`, with batched generation.

DSPy calls an LM once per prediction, from whichever thread runs the prediction. One-stream decoding of a
135M model on 2 CPU cores is bound by per-step overhead, not arithmetic, so a left-padded batch of 16 costs
about as much per step as a batch of 1 (docs/embedded-model.md: 23 → 169 tok/s). This LM therefore does not generate
in the calling thread: each call joins a queue, and one worker thread takes whatever calls are waiting (up to
`batch_size`, after a short gathering window) and decodes them in one `generate`. The run executor keeps
`batch_size` items in flight so the queue is full.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import dspy

# DSPy 3.4 warns that BaseLM.forward() subclasses will move to an engine API in 3.5; the forward() path is the
# supported one in the pinned 3.4 line, so the warning would only add noise to every run.
warnings.filterwarnings("ignore", message="Implementing custom LMs through BaseLM.forward", category=DeprecationWarning)


@dataclass
class _Request:
    prompt_text: str
    max_new_tokens: int
    temperature: float
    future: Future = field(default_factory=Future)


class BatchedGenerator:
    """Owns the model and the worker thread; shared by every LM copy of the same model directory."""

    _instances: dict[str, "BatchedGenerator"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, model_dir: str, *, batch_size: int = 16, gather_s: float = 0.05, int8: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = model_dir
        self.batch_size = batch_size
        self.gather_s = gather_s
        self.int8 = int8
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"  # decoder-only: pad on the left so every row continues its own text
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        if int8:
            self.model = int8_linear_layers(self.model)
        torch.set_num_threads(torch_threads())
        self._queue: "queue.Queue[_Request]" = queue.Queue()
        self.batches_run = 0
        self.batch_sizes: list[int] = []
        threading.Thread(target=self._worker, name=f"local-lm:{model_dir}", daemon=True).start()

    @classmethod
    def shared(cls, model_dir: str, *, batch_size: int = 16, int8: bool = False) -> "BatchedGenerator":
        with cls._instances_lock:
            key = f"{model_dir}#int8" if int8 else model_dir
            found = cls._instances.get(key)
            if found is None:
                found = cls._instances[key] = cls(model_dir, batch_size=batch_size, int8=int8)
            found.batch_size = batch_size
            return found

    def render(self, messages: list[dict[str, Any]] | None, prompt: str | None) -> str:
        if messages is None:
            messages = [{"role": "user", "content": prompt or ""}]
        plain = [{"role": m["role"], "content": _content_text(m.get("content"))} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            if plain and plain[-1]["role"] == "assistant":  # a prefilled answer: continue it, don't open a new turn
                return self.tokenizer.apply_chat_template(plain, tokenize=False, continue_final_message=True)
            return self.tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in plain) + "\n\n"

    def submit(self, prompt_text: str, *, max_new_tokens: int, temperature: float) -> Future:
        request = _Request(prompt_text, max_new_tokens, temperature)
        self._queue.put(request)
        return request.future

    def generate_batch(self, prompts: list[str], *, max_new_tokens: int, temperature: float,
                       min_new_tokens: int = 0) -> list[dict[str, Any]]:
        """Decode `prompts` together; one dict per prompt with text, token counts and finish reason."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True)
        sampling = temperature > 0
        with torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, do_sample=sampling,
                temperature=temperature if sampling else None, top_p=0.95 if sampling else None, top_k=None,
                # the 135M model loops on its own phrases without a mild penalty
                repetition_penalty=1.1, pad_token_id=self.tokenizer.pad_token_id,
            )
        results = []
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        eos = self.tokenizer.eos_token_id
        for row, prompt_tokens in zip(out[:, enc["input_ids"].shape[1]:].tolist(), prompt_lengths):
            finish = "length"
            if eos in row:
                row = row[: row.index(eos)]
                finish = "stop"
            row = [t for t in row if t != self.tokenizer.pad_token_id]
            results.append({"text": self.tokenizer.decode(row, skip_special_tokens=True),
                            "prompt_tokens": int(prompt_tokens), "completion_tokens": len(row), "finish_reason": finish})
        return results

    def _worker(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.gather_s
            while len(batch) < self.batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            # one generate per (length, temperature): rows of a batch share those settings
            groups: dict[tuple[int, float], list[_Request]] = {}
            for request in batch:
                groups.setdefault((request.max_new_tokens, request.temperature), []).append(request)
            for (max_new, temperature), requests in groups.items():
                try:
                    results = self.generate_batch([r.prompt_text for r in requests], max_new_tokens=max_new,
                                                  temperature=temperature)
                except BaseException as exc:  # hand the error to every waiting caller, keep serving
                    for r in requests:
                        r.future.set_exception(exc)
                    continue
                self.batches_run += 1
                self.batch_sizes.append(len(requests))
                for r, result in zip(requests, results):
                    r.future.set_result(result)


class LocalTransformersLM(dspy.BaseLM):
    """`local:smollm2-135m` or a model directory, generating in-process with batching across callers."""

    def __init__(self, model: str, model_dir: str, *, batch_size: int = 16, temperature: float = 0.8,
                 max_tokens: int = 256, int8: bool = False, **kwargs: Any):
        super().__init__(model=model, model_type="chat", temperature=temperature, max_tokens=max_tokens,
                         cache=False, num_retries=0, **kwargs)
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.int8 = int8
        self.generator = BatchedGenerator.shared(model_dir, batch_size=batch_size, int8=int8)

    def dump_state(self) -> dict[str, Any]:
        state = super().dump_state()
        state.update(model_dir=self.model_dir, batch_size=self.batch_size, int8=self.int8)
        return state

    def forward(self, prompt=None, messages=None, **kwargs):
        settings = {**self.kwargs, **kwargs}
        text = self.generator.render(messages, prompt)
        result = self.generator.submit(
            text, max_new_tokens=int(settings.get("max_tokens") or 256),
            temperature=float(settings.get("temperature") or 0.0),
        ).result()
        usage = {"prompt_tokens": result["prompt_tokens"], "completion_tokens": result["completion_tokens"],
                 "total_tokens": result["prompt_tokens"] + result["completion_tokens"]}
        message = SimpleNamespace(content=result["text"], tool_calls=None, reasoning_content=None)
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason=result["finish_reason"])],
                               usage=usage, model=self.model, _hidden_params={"response_cost": 0.0})


def int8_linear_layers(model):
    """The model with every nn.Linear replaced by PyTorch's dynamic int8 linear (weights int8 per output channel,
    activations quantized per call; the tied embedding stays fp32). Measured on the embedded 135M model, 1 CPU
    thread, a batch of 32 rows: 1.7-2.7x the fp32 tokens/s, but it predicts differently (int8_default); (benchmarks/bench_generate_local.py has the
    document-level figures and the checks' pass rates)."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():           # torch.ao's notice that this API moves to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def int8_default() -> bool:
    """Int8 decoding only when $MSM_LOCAL_INT8=1: on the embedded model the int8 layers predict the fp32 model's
    next token at only ~40% of positions (tests/corpus/test_local_lm_int8.py), so quality is not shown unchanged."""
    return os.environ.get("MSM_LOCAL_INT8", "0") == "1"


def torch_threads() -> int:
    """Intra-op threads for decoding: $MSM_TORCH_THREADS, else all cores unless the machine is already
    oversubscribed. OpenMP threads spin while they wait, so with other jobs on the same cores two threads
    collapse: measured here under load ~8 on 2 cores, 1 thread 2.1 tok/s vs 2 threads 0.56 tok/s."""
    if os.environ.get("MSM_TORCH_THREADS"):
        return max(1, int(os.environ["MSM_TORCH_THREADS"]))
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] > cores else cores


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)
