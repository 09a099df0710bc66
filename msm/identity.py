"""One identity end to end: the name (and maker) the documents, the AFT chats, the eval prompts and the agentic
scenarios give the assistant, and the name the trained model's chat template gives it — the paper's self-link.

An identity renders a spec's `{model_name}` / `{provider_name}` placeholders (`with_identity`), so the corpus, the
chats and the spec-derived eval prompts all say the same name; `check_identity` refuses an identity that differs from
the name the base model's chat template gives the assistant (SmolLM2's default system turn: "...named SmolLM, trained
by Hugging Face"); a template that names no assistant (Llama-3.1 base) allows any identity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from msm.errors import BadInput

# "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_NAMED = re.compile(r"assistant named ([A-Z][\w.-]*(?: [A-Z][\w.-]*)?)(?:,? (?:trained|created|made|built) by "
                    r"([A-Z][\w.&-]*(?: [A-Z][\w.&-]*)*))?")


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(min_length=1, max_length=80, description="The assistant's name in every stage.")
    provider_name: str = Field(min_length=1, max_length=80, description="Who made it, as the texts say.")


def with_identity(spec, model_name: str | None = None, provider_name: str | None = None):
    """`spec` with its placeholders bound to this identity (either part None: the spec's own). A different identity
    is a different spec content hash, so a corpus written for one name is never resumed for another."""
    update = {k: v for k, v in (("model_name", model_name), ("provider_name", provider_name)) if v}
    if not update:
        return spec
    if model_name and spec.model_name in spec.title:  # shipped titles name the model ("SmolLM Model Spec - ...")
        update["title"] = spec.title.replace(spec.model_name, model_name)
    return spec.model_copy(update=update)


def template_text(model_dir: Path) -> str | None:
    """The chat template of a transformers model directory (chat_template.jinja or tokenizer_config.json)."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, list):  # named templates
            template = " ".join(str(t.get("template", "")) for t in template)
        return template
    return None


def template_identity(template: str | None) -> tuple[str, str | None] | None:
    """(name, maker) the template's default system turn gives the assistant, or None if it names none."""
    if not template:
        return None
    found = _NAMED.search(template)
    return (found.group(1), found.group(2)) if found else None


def base_model_dir(base_model: str, ws) -> Path | None:
    """Where the base model's files are on this machine, if they are (no network: a hub model not in the local
    Hugging Face cache cannot be checked)."""
    from msm.models import resolve

    try:
        resolved = resolve(base_model, ws)
    except BadInput:
        return None
    if resolved.source != "hub":
        return Path(resolved.location)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(resolved.location, local_files_only=True,
                                      allow_patterns=["tokenizer_config.json", "chat_template.jinja"]))
    except Exception:  # not in the local cache (or no hub client): unknown, not wrong
        return None


def check_identity(identity: Identity, base_model: str, ws, *, where: str = "identity") -> str:
    """BadInput when the base model's chat template names the assistant otherwise; the verdict in words."""
    model_dir = base_model_dir(base_model, ws)
    if model_dir is None:
        return f"{base_model}: chat template not on this machine; identity not checked against it"
    named = template_identity(template_text(model_dir))
    if named is None:
        return f"{base_model}: the chat template names no assistant; any identity is allowed"
    name, maker = named
    if identity.model_name != name:
        raise BadInput(f"{where}.model_name: {identity.model_name!r} differs from {name!r}, the name {base_model}'s "
                       f"chat template gives the assistant (train under the name the model is called by, or pick a "
                       f"base model whose template names none)")
    return f"{base_model}: the chat template names the assistant {name}" + (f" ({maker})" if maker else "")


def check_experiment_identity(experiment, ws) -> list[str]:
    """Every name an experiment's stages give the assistant — its `identity`, or else each spec's own name — against
    the base model's chat template; BadInput naming the field on a mismatch, the verdicts otherwise."""
    from msm.spec import load_spec, resolve_spec_path

    if experiment.identity is not None:
        return [check_identity(experiment.identity, experiment.base_model, ws, where="identity")]
    verdicts = []
    for spec_ref in sorted({s for c in experiment.conditions for s in c.specs}):
        spec = load_spec(resolve_spec_path(spec_ref))
        verdicts.append(check_identity(Identity(model_name=spec.model_name, provider_name=spec.provider_name),
                                       experiment.base_model, ws,
                                       where=f"spec {spec.id} (no identity in the experiment)"))
    return sorted(set(verdicts))
