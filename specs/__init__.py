"""The shipped Model Specs (YAML data). `msm.spec.resolve_spec_path` finds them by id."""

from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent
