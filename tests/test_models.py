"""The embedded model: pull (real, from PyPI), resolve names, load and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm import models
from msm.errors import BadInput
from msm.workspace import Workspace


@pytest.mark.slow
def test_pull_is_verified_and_idempotent(embedded_model_dir: Path, msm):
    record = json.loads((embedded_model_dir / models.PULL_RECORD).read_text())
    assert record["gguf_sha256"] == models.EMBEDDED["smollm2-135m"].gguf_sha256
    assert (embedded_model_dir / "model.safetensors").exists() and (embedded_model_dir / "config.json").exists()
    again = msm("--json", "models", "pull", "smollm2-135m")  # cached: no download, same directory
    assert again.code == 0, again.err
    assert Path(json.loads(again.out)["path"]) == embedded_model_dir
    listed = json.loads(msm("--json", "models", "list").out)
    assert {"name": "local:smollm2-135m", "pulled": True}.items() <= listed[0].items()


@pytest.mark.slow
def test_load_and_generate_ten_tokens(embedded_model_dir: Path):
    import torch

    ws = Workspace.open(create=True)
    lm, tokenizer = models.load_causal_lm(models.resolve("local:smollm2-135m", ws))
    assert sum(p.numel() for p in lm.parameters()) == pytest.approx(134.5e6, rel=0.01)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Name a colour."}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = lm.generate(**prompt, max_new_tokens=10, do_sample=False)
    new_tokens = out[0][prompt["input_ids"].shape[1]:]
    assert 1 <= len(new_tokens) <= 10
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    assert any(ch.isalpha() for ch in text), text


def test_resolve_names(tmp_path: Path, embedded_model_dir: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    assert models.resolve("local:smollm2-135m", ws).location == str(embedded_model_dir)
    assert models.resolve("hf:HuggingFaceTB/SmolLM2-135M", ws).source == "hub"
    assert models.resolve(str(embedded_model_dir), ws).source == "directory"
    for bad in ["local:nope", "hf:noslash", "not/a/dir", "", str(tmp_path)]:
        with pytest.raises(BadInput):
            models.resolve(bad, ws)


def test_unpulled_embedded_model_says_how_to_pull(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MSM_CACHE", str(tmp_path / "empty-cache"))
    ws = Workspace.open(tmp_path / "w", create=True)
    with pytest.raises(BadInput, match="msm models pull smollm2-135m"):
        models.resolve("local:smollm2-135m", ws)


def test_pull_offline_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, msm):
    # An unreachable index stands in for 'offline': pip fails at once, and the cache stays empty.
    monkeypatch.setenv("MSM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    result = msm("models", "pull", "smollm2-135m")
    assert result.code == 1, result
    errors = [line for line in result.err.splitlines() if line.startswith("msm: error:")]
    assert len(errors) == 1 and "could not download" in errors[0] and "Traceback" not in result.err
    assert not (tmp_path / "cache" / "models" / "smollm2-135m").exists()
