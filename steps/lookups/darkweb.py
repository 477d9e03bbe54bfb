"""darkweb_lookup: whether an email address or domain appears in known breaches, via a provider.

Not offline: the deployment's provider answers (steps/lookups/provider.py has
the contract and the settings). The input is an email address (normalized)
or a domain.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from steps.base import ExecContext, Issue, Outcome
from steps.lookups import provider
from steps.lookups.base import validate_input
from steps.lookups.domain import host_of, registrable

name = "darkweb_lookup"
kind = "io"
field_is_input = True
PROVIDER = "darkweb"
ENV = "HOPFLOW_DARKWEB_PROVIDER_URL"

TITLE = "Breach exposure of an email address or domain from the deployment's provider"
CONFIG: dict[str, str] = {
    "value": "string (template): an email address or a domain, e.g. \"{{input.email}}\"",
    "field": "string: a path to the input instead of value, e.g. input.email",
}
OUTPUT: dict[str, str] = {
    "input": "the text looked up",
    "valid": "an email address or a domain (false: nothing asked, no credit)",
    "found": "the provider has a record of it (false when it answered 404)",
    "breached": "seen in at least one breach",
    "breach_count": "number of breaches",
    "breaches": "[{name, date, data_classes}] as the provider lists them",
    "first_seen": "date of the earliest breach",
    "last_seen": "date of the latest breach",
    "reason": "why the input could not be looked up, else null",
    "credits": "1 for a lookup (found or not), 0 for input that could not be looked up",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def _query(text: str) -> tuple[str | None, str | None]:
    """A normalized email address, or a registrable domain's host name."""
    if "@" in text and "://" not in text:
        try:
            return validate_email(text, check_deliverability=False).normalized, None
        except EmailNotValidError as exc:
            return None, f"not a valid email address: {exc}"
    host = host_of(text).lower()
    if not host or registrable(host) is None:
        return None, "not an email address or a domain under a known public suffix"
    return host, None


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    return await provider.ask(name, ENV, config, ctx, OUTPUT, _query)
