"""company_lookup: firmographics of a company (by domain, email or name) from a provider.

Not offline: the deployment's provider answers (steps/lookups/provider.py has
the contract and the settings). An email address or URL is looked up by its
host name, so `"{{input.email}}"` finds the sender's company.
"""

from __future__ import annotations

from typing import Any

from steps.base import ExecContext, Issue, Outcome
from steps.lookups import provider
from steps.lookups.base import validate_input
from steps.lookups.domain import host_of

name = "company_lookup"
kind = "io"
field_is_input = True
PROVIDER = "company"  # the executor passes settings.provider("company") as extras["provider"]
ENV = "HOPFLOW_COMPANY_PROVIDER_URL"

TITLE = "Company details (name, domain, industry, size) from the deployment's provider"
CONFIG: dict[str, str] = {
    "value": "string (template): the company domain, an email address, a URL or a name, "
             "e.g. \"{{input.email}}\"",
    "field": "string: a path to the input instead of value, e.g. input.company",
}
OUTPUT: dict[str, str] = {
    "input": "the text looked up",
    "valid": "the input could be looked up (false: nothing asked, no credit)",
    "found": "the provider knows the company (false when it answered 404)",
    "name": "company name",
    "domain": "the company's primary domain",
    "industry": "industry, as the provider names it",
    "employees": "head count (a number or a range, as the provider gives it)",
    "country": "ISO 3166-1 alpha-2 country of the headquarters",
    "city": "headquarters city",
    "founded": "year founded",
    "description": "a short description",
    "linkedin": "LinkedIn URL",
    "reason": "why the input could not be looked up, else null",
    "credits": "1 for a lookup (found or not), 0 for input that could not be looked up",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def _query(text: str) -> tuple[str | None, str | None]:
    """A domain from an email address or URL; a company name as it is."""
    if "@" in text or "://" in text:
        host = host_of(text)
        return (host.lower(), None) if host else (None, "no host name in the input")
    return text, None


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    return await provider.ask(name, ENV, config, ctx, OUTPUT, _query)
