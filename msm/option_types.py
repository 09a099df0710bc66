"""Click parameter types for numbers that refuse what no msm option can mean: NaN and infinities (which compare
False with every bound, so a plain FloatRange lets `--max-cost-usd nan` disable the budget) and integers far past
any count (a 20-digit `--length-words` is a typo or an attack). The ground floor: the CLI and the settings records
that generate options both use them."""

from __future__ import annotations

from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and infinities, naming the option: `nan` compares False with every bound,
    so a plain FloatRange lets it through (`--max-cost-usd nan` would disable the budget)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = click.FLOAT.convert(value, param, ctx) if not isinstance(value, float) else value
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


MAX_OPTION_INT = 10**12   # far above any count, length or step msm takes; a 20-digit number is a typo or an attack


class BoundedInt(click.IntRange):
    """An int option with an upper bound even when none is named (`MAX_OPTION_INT`), so a 20-digit number is
    refused at the option instead of overflowing some array or loop later."""

    def __init__(self, min: int | None = None, max: int | None = MAX_OPTION_INT, **kwargs: Any) -> None:
        super().__init__(min, MAX_OPTION_INT if max is None else max, **kwargs)


def bounded_int_list(value: str, option: str, *, minimum: int, maximum: int = 1_000_000) -> list[int]:
    """Comma-separated whole numbers in [minimum, maximum] (click.BadParameter naming the value otherwise)."""
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected whole numbers separated by commas") from None
    if not numbers:
        raise click.BadParameter(f"{value!r}: expected at least one number")
    for number in numbers:
        if not minimum <= number <= maximum:
            shown = str(number) if len(str(number)) <= 24 else f"{str(number)[:20]}… ({len(str(number))} digits)"
            raise click.BadParameter(f"{shown}: each value must be between {minimum} and {maximum}")
    return numbers
