"""msm — Model Spec Midtraining: corpus generation, curation, review, training and evaluation.

The stages as Python functions of one shape, `stage(workspace, request) -> result` (see `msm.stages`):

    import msm
    ws = msm.open_workspace("msm-workspace")
    msm.generate(ws, msm.GenerateRequest(spec="cheese_america", run="nb", n_docs=24))

Every public name is imported on first use, so `import msm` (which every `msm` command and module does) stays as
cheap as it was: the stage functions pull in DSPy, torch and DuckDB only when called.
"""

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first attribute access, PEP 562)
_PUBLIC = {name: "msm.stages" for name in (
    "open_workspace", "generate", "GenerateRequest", "GenerateResult", "aft_generate", "AftRequest", "AftResult",
    "curate", "CurateRequest", "snapshot", "SnapshotRequest", "midtrain", "MidtrainRequest", "sft", "SftRequest",
    "evaluate", "EvalRequest")}
_PUBLIC.update({"Workspace": "msm.workspace", "GenerateOptions": "msm.corpus.generate.api",
                "Hyperparameters": "msm.train.records"})

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:  # `from msm import models` then imports the submodule, as without this hook
        raise AttributeError(f"module 'msm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
