"""Shared test fixtures. Every test gets its own workspace in a temp dir (autouse); the embedded model is
pulled once per machine into a shared cache so tests do not repeat the download and conversion."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_CACHE = Path(os.environ.get("MSM_TEST_CACHE", REPO / ".cache" / "msm-test"))


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workspace = tmp_path / "ws"
    monkeypatch.setenv("MSM_WORKSPACE", str(workspace))
    monkeypatch.setenv("MSM_CACHE", str(SHARED_CACHE))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("MSM_DEBUG", raising=False)
    return workspace


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def msm(capsys: pytest.CaptureFixture):
    """Run the real CLI entry point in-process: `msm("spec", "show", "x")` -> CliResult."""
    from msm.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def msm_process():
    """Run `python -m msm` as a real subprocess (for kill/resume tests and stdin)."""

    def run(*args: str, input: str | None = None, timeout: float = 600, env: dict | None = None) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "msm", *args], capture_output=True, text=True, input=input,
                              timeout=timeout, env={**os.environ, **(env or {})})
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The real embedded model (SmolLM2-135M-Instruct), pulled once into the shared test cache."""
    from msm import models
    from msm.workspace import Workspace

    previous = os.environ.get("MSM_CACHE")
    os.environ["MSM_CACHE"] = str(SHARED_CACHE)
    try:
        ws = Workspace(SHARED_CACHE / "pull-workspace")
        return models.pull(ws, "smollm2-135m", log=lambda _m: None)
    finally:
        if previous is None:
            os.environ.pop("MSM_CACHE", None)
        else:
            os.environ["MSM_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, embedded_model_dir: Path) -> Path:
    """A tiny random-weight Llama (2 layers, hidden 64) with the embedded model's tokenizer: trains in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
