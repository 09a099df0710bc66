"""Progress reporting that library code can accept without depending on the CLI: a step takes an `advance(n, **fields)`
callable (or a factory of them) and defaults to these no-ops."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def no_advance(n: int = 1, **fields: Any) -> None:
    """An `advance` that shows nothing."""


@contextmanager
def no_progress(description: str = "", total: int | None = None) -> Iterator:
    """A progress factory's context manager that shows nothing (same shape as `msm.cli_support.progress`)."""
    yield no_advance
