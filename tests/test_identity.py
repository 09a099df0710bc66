"""One identity end to end: spec placeholders, run manifests, and the check against the base model's chat template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.errors import BadInput
from msm.experiment.config import load_experiment
from msm.identity import Identity, check_identity, template_identity, template_text, with_identity
from msm.spec import load_spec, resolve_spec_path

REPO = Path(__file__).resolve().parents[1]
SMOL = ("{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>' }}")
LLAMA_BASE = "{{- bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}"


def test_templates_name_the_assistant_or_not(tmp_path: Path) -> None:
    assert template_identity(SMOL) == ("SmolLM", "Hugging Face")
    assert template_identity(LLAMA_BASE) is None and template_identity(None) is None
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": SMOL}))
    assert template_identity(template_text(tmp_path)) == ("SmolLM", "Hugging Face")
    (tmp_path / "chat_template.jinja").write_text(LLAMA_BASE)  # the .jinja file wins, as in transformers
    assert template_identity(template_text(tmp_path)) is None


def test_a_model_dir_whose_template_names_another_assistant_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "chat_template.jinja").write_text(SMOL)
    assert "SmolLM" in check_identity(Identity(model_name="SmolLM", provider_name="Hugging Face"), str(model), None)
    with pytest.raises(BadInput, match="identity.model_name: 'Orion' differs from 'SmolLM'"):
        check_identity(Identity(model_name="Orion", provider_name="Acme"), str(model), None)
    (model / "chat_template.jinja").write_text(LLAMA_BASE)
    assert "any identity" in check_identity(Identity(model_name="Orion", provider_name="Acme"), str(model), None)


def test_identity_renders_the_spec_and_changes_its_hash() -> None:
    spec = load_spec(resolve_spec_path("cheese_america"))
    bound = with_identity(spec, "Orion", "Acme Labs")
    assert bound.model_name == "Orion" and bound.content_hash != spec.content_hash
    assert "Orion" in bound.as_text() and "SmolLM" not in bound.as_text()
    assert with_identity(spec, None, None) is spec


def test_experiment_identity_reaches_every_stage_command(msm, isolated_workspace: Path) -> None:
    file = REPO / "experiments/paper_cheese.yaml"
    data = json.loads(msm("--json", "experiment", "run", str(file), "--dry-run", "--set", "seeds=[0]",
                          "--set", "identity={model_name: Orion, provider_name: Acme}").out)
    kinds = {s["kind"] for s in data["stages"] if "--model-name" in s["command"]}
    assert {"generate", "eval"} <= kinds
    for stage in data["stages"]:
        if stage["kind"] in ("generate", "aft_generate", "eval"):
            cmd = stage["command"]
            assert cmd[cmd.index("--model-name") + 1] == "Orion" and cmd[cmd.index("--provider-name") + 1] == "Acme"
    plain = load_experiment(file)
    assert plain.identity is None or plain.identity.model_name


def test_generate_records_the_identity_in_the_run_manifest(msm, isolated_workspace: Path) -> None:
    assert msm("init").code == 0
    result = msm("generate", "--spec", "cheese_america", "--run", "ident", "--lm", "openai/x", "--plan-only",
                 "--model-name", "Orion", "--provider-name", "Acme", "--n-docs", "3")
    assert result.code == 0, result.err
    from msm.corpus.generate.api import GenerateRequest, settings_for
    from msm.workspace import Workspace

    spec = with_identity(load_spec(resolve_spec_path("cheese_america")), "Orion", "Acme")
    settings, _, _ = settings_for(GenerateRequest(spec=spec, run="x", lm="openai/x", n_docs=3), spec,
                                  Workspace(isolated_workspace))
    assert (settings.model_name, settings.provider_name) == ("Orion", "Acme")
    assert settings.spec_hash == spec.content_hash
