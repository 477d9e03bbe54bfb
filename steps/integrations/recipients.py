"""Recipient lists: a string (comma or semicolon separated) or an array, checked as addresses."""

from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email

from steps.base import StepFailed

MAX_RECIPIENTS = 100  # whatever the plan: one message is not a mailing list
_PHONE = re.compile(r"\+[1-9]\d{6,14}")


def as_list(value: Any, field: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items = [p.strip() for p in re.split(r"[,;]", value)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise StepFailed(f"{field} must be an address or a list of addresses")
    items = [i for i in items if i]
    if len(items) > MAX_RECIPIENTS:
        raise StepFailed(f"{field} has {len(items)} recipients; at most {MAX_RECIPIENTS}")
    return items


def emails(value: Any, field: str) -> list[str]:
    """Normalized addresses; a bad one fails the step naming it (no DNS lookup)."""
    out = []
    for item in as_list(value, field):
        try:
            out.append(validate_email(item, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise StepFailed(f"{field}: {item!r} is not a valid email address ({exc})") from None
    return out


def phones(value: Any, field: str) -> list[str]:
    out = []
    for item in as_list(value, field):
        number = re.sub(r"[\s().-]", "", item)
        if not _PHONE.fullmatch(number):
            raise StepFailed(f"{field}: {item!r} is not a phone number in E.164 form "
                             "(+14155550100)")
        out.append(number)
    return out


def recipient_list(value: Any) -> bool:
    """A string, or an array of strings (an array of numbers or objects is a 400 at save)."""
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value))


def literal(value: Any) -> bool:
    """A value fixed at save time (no placeholder), so it can be checked then."""
    if isinstance(value, str):
        return "{{" not in value
    if isinstance(value, list):
        return all(isinstance(v, str) and "{{" not in v for v in value)
    return False
