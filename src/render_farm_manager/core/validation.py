"""Checks of the values given to the manager's methods: each refuses with an
:class:`~render_farm_manager.core.errors.InvalidInputError` that names the argument and the id,
before anything changes."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, TypeVar

from render_farm_manager.core.errors import InvalidInputError

E = TypeVar("E", bound=StrEnum)


def finite_number(value: Any, field: str, object_id: str) -> float:
    """``value`` as a float, refusing what is not a real, finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"{field} of {object_id!r} must be a number, got {type(value).__name__} {value!r}",
            field=field,
            object_id=object_id,
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInputError(
            f"{field} of {object_id!r} must be a finite number, got {value!r}",
            field=field,
            object_id=object_id,
        )
    return number


def positive_hours(value: Any, field: str, object_id: str) -> float:
    hours = finite_number(value, field, object_id)
    if not 0 < hours <= 1_000_000:
        raise InvalidInputError(
            f"{field} of {object_id!r} must be a positive number of hours, got {value!r}",
            field=field,
            object_id=object_id,
        )
    return hours


def identifier(value: Any, field: str) -> str:
    """An id must be a non-empty string."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            f"{field} must be a non-empty string, got {type(value).__name__} {value!r}",
            field=field,
        )
    return value


def text(value: Any, field: str, object_id: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} for {object_id!r} must be a string, got {type(value).__name__} {value!r}",
            field=field,
            object_id=object_id,
        )
    return value


def flag(value: Any, field: str, object_id: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(
            f"{field} for {object_id!r} must be True or False, got {value!r}",
            field=field,
            object_id=object_id,
        )
    return value


def choice(enum: type[E], value: Any, field: str, object_id: str) -> E:
    """``value`` as a member of ``enum`` (its value as a string is accepted too)."""
    try:
        return enum(value)
    except (ValueError, TypeError):
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInputError(
            f"{field} for {object_id!r} must be one of {allowed}; got {value!r}",
            field=field,
            object_id=object_id,
        ) from None


def whole_number(value: Any, field: str, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{field} must be a whole number of at least {minimum}, got {value!r}", field=field
        )
    if maximum is not None and value > maximum:
        raise InvalidInputError(f"{field} must be at most {maximum}, got {value!r}", field=field)
    return value


def setting(
    value: Any,
    field: str,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
    above_minimum: bool = False,
) -> float:
    """A component setting: a finite number within ``minimum``-``maximum`` (strictly above the
    minimum when ``above_minimum``)."""
    number = finite_number(value, field, "the settings")
    too_low = number <= minimum if above_minimum else number < minimum
    if too_low or number > maximum:
        low = f"above {minimum:g}" if above_minimum else f"at least {minimum:g}"
        high = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise InvalidInputError(f"{field} must be {low}{high}, got {value!r}", field=field)
    return number
