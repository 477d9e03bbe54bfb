"""google_search: web search results for a query, from the deployment's provider.

Not offline: like company_lookup, the operator configures a search provider
(HOPFLOW_GOOGLE_PROVIDER_URL with `{query}`, HOPFLOW_GOOGLE_PROVIDER_TOKEN;
steps/lookups/provider.py has the contract), so hopflow never scrapes a
search engine itself. One credit per query asked; an empty query costs none.
"""

from __future__ import annotations

from typing import Any

from steps.base import ExecContext, Issue, Outcome
from steps.lookups import provider
from steps.lookups.base import validate_input

name = "google_search"
kind = "io"
field_is_input = True
PROVIDER = "google"  # the executor passes settings.provider("google") as extras["provider"]
ENV = "HOPFLOW_GOOGLE_PROVIDER_URL"
MAX_QUERY_CHARS = 512  # longer queries are refused by search engines anyway

TITLE = "Web search results for a query from the deployment's search provider"
CONFIG: dict[str, str] = {
    "value": "string (template): the search query, e.g. \"{{input.company}} headquarters\"",
    "field": "string: a path to the query instead of value, e.g. input.query",
}
OUTPUT: dict[str, str] = {
    "input": "the query as given",
    "valid": "the query could be asked (false: nothing asked, no credit)",
    "found": "the provider had results (false when it answered 404)",
    "total_results": "the provider's estimate of matching pages",
    "results": "[{title, url, snippet}] as the provider lists them",
    "reason": "why the query could not be asked, else null",
    "credits": "1 for a query asked (found or not), 0 for one that could not be asked",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_input(config, where)


def _query(text: str) -> tuple[str | None, str | None]:
    """The query with runs of white space folded to one space (what search engines do)."""
    query = " ".join(text.split())
    if len(query) > MAX_QUERY_CHARS:
        return None, f"query longer than {MAX_QUERY_CHARS} characters"
    return query, None


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    return await provider.ask(name, ENV, config, ctx, OUTPUT, _query)
