"""The small checks every parameter block makes, written once: each raises
``ParameterError`` naming the key, the value given and what is allowed."""

from __future__ import annotations

from resnet_finetune.errors import ParameterError


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ParameterError(f"{name}={value!r} is not allowed; allowed: {list(choices)}")


def check_range(name: str, value, low, high, closed_high=True, open_low=False) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    inside = number and (low < value if open_low else low <= value)
    inside = inside and (value <= high if closed_high else value < high)
    if not inside:
        brackets = ("(" if open_low else "[", "]" if closed_high else ")")
        raise ParameterError(
            f"{name}={value!r} must lie in {brackets[0]}{low}, {high}{brackets[1]}"
        )


def check_count(name: str, value, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or null" if optional else "")
        raise ParameterError(f"{name}={value!r} must be {allowed}")


def check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} must be true or false")
