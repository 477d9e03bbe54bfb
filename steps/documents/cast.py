"""Typed values for extracted fields (JSON-schema type names), with errors that say why."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from steps.base import scalar_text

TYPES = ("string", "number", "integer", "boolean", "date", "array", "object")
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
_CURRENCY = re.compile(r"[\s$€£¥₹]|\u00a0")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+$")


class CastError(ValueError):
    """A value that is not of the field's type."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_text(text: str) -> str:
    """'$1,234.50' -> '1234.50'; '1.234,50' -> '1234.50' (the last separator is the decimal
    one when both appear); a lone comma is a thousands separator only in 1,234,567 form."""
    text = _CURRENCY.sub("", text)
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            return text.replace(".", "").replace(",", ".")
        return text.replace(",", "")
    if "," in text:
        return text.replace(",", "") if _THOUSANDS.match(text) else text.replace(",", ".")
    return text


def to_number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise CastError(f"{_show(value)} is a boolean, not a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(_number_text(value.strip()))
        except ValueError:
            raise CastError(f"{_show(value)} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise CastError(f"{_show(value)} is not a finite number")
        return number
    raise CastError(f"{_show(value)} is not a number")


def to_integer(value: Any) -> int:
    number = to_number(value)
    if number != int(number):
        raise CastError(f"{_show(value)} is not a whole number")
    return int(number)


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise CastError(f"{_show(value)} is not a boolean (true/false, yes/no, 1/0)")


def to_date(value: Any, fmt: str | None = None) -> str:
    """An ISO date (YYYY-MM-DD); non-ISO text needs `format` (strptime codes)."""
    if not isinstance(value, str):
        raise CastError(f"{_show(value)} is not a date")
    text = value.strip()
    try:
        if fmt:
            return datetime.strptime(text, fmt).date().isoformat()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        wanted = f"the format {fmt!r}" if fmt else "an ISO date (give format for others)"
        raise CastError(f"{_show(value)} is not a date in {wanted}") from None


def to_string(value: Any) -> str:
    text = None if value is None else scalar_text(value)
    if text is not None:
        return text
    raise CastError(f"{_show(value)} is not text (an {type(value).__name__})")


def cast(value: Any, type_name: str, *, fmt: str | None = None,
         items: str | None = None) -> Any:
    """`value` as `type_name`; arrays cast each item to `items` when given."""
    if type_name == "string":
        return to_string(value)
    if type_name == "number":
        return to_number(value)
    if type_name == "integer":
        return to_integer(value)
    if type_name == "boolean":
        return to_boolean(value)
    if type_name == "date":
        return to_date(value, fmt)
    if type_name == "array":
        if not isinstance(value, list):
            raise CastError(f"{_show(value)} is not an array")
        if items is None:
            return value
        out = []
        for i, item in enumerate(value):
            try:
                out.append(cast(item, items, fmt=fmt))
            except CastError as exc:
                raise CastError(f"item {i}: {exc}") from None
        return out
    if type_name == "object":
        if not isinstance(value, dict):
            raise CastError(f"{_show(value)} is not an object")
        return value
    raise CastError(f"unknown type {type_name!r}")
