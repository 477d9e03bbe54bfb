"""Lookups answered by a provider the operator configures per deployment (company, dark web).

The worker reads the provider from its settings (streams/settings.py:
HOPFLOW_<NAME>_PROVIDER_URL, a URL template with `{query}`, and
HOPFLOW_<NAME>_PROVIDER_TOKEN, sent as `Authorization: Bearer`); the executor
hands it to the step as `ctx.extras["provider"]` ({url, token} or None), so
steps/ never reads the environment. The token is the operator's, one per
deployment, and is masked in every step log (the executor redacts it).

Contract: `GET <url with {query} = the URL-encoded input>`, answered with a
JSON object; the lookup keeps the keys of its OUTPUT shape. 404 means "not
known" (an answer: found false, still one credit: the provider was asked).
Other answers >= 400, timeouts and refusals fail the step, classified by
steps/errors.py (429/5xx/timeouts transient, other 4xx and refusals permanent).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import orjson

from steps.base import ExecContext, Outcome, StepFailed
from steps.errors import http_failure, request_failure
from steps.http import BlockedURL, ResponseTooLarge, guarded_request
from steps.lookups.base import answer, input_text

TIMEOUT_SECONDS = 10.0
MAX_PROVIDER_BYTES = 1_000_000


def provider_url(template: str, query: str) -> str:
    """The template with `{query}` replaced by the URL-encoded input (no other expansion)."""
    return template.replace("{query}", quote(query, safe=""))


async def ask(name: str, env: str, config: dict[str, Any], ctx: ExecContext,
              shape: dict[str, Any], normalize: Any = None) -> Outcome:
    """Look the input up at the configured provider and answer in `shape`.

    `normalize(text)` returns (query, None) or (None, reason) for input the lookup refuses
    (no credit, no call); `env` names the setting in the "no provider" error.
    """
    provider = ctx.extras.get("provider")
    if not provider or not provider.get("url"):
        raise StepFailed(f"{name} has no provider configured: set {env}")
    text, reason = input_text(config)
    if text is None:
        return answer(shape, config.get("value"), reason=reason)
    query = text
    if normalize is not None:
        query, reason = normalize(text)
        if query is None:
            return answer(shape, text, reason=reason)
    url = provider_url(provider["url"], query)
    headers = {"Accept": "application/json", "Idempotency-Key": ctx.idempotency_key}
    if provider.get("token"):
        headers["Authorization"] = f"Bearer {provider['token']}"
    request = {"method": "GET", "url": url, "provider": name}  # no headers: the token
    try:
        response = await guarded_request("GET", url, headers=headers, timeout=TIMEOUT_SECONDS,
                                         max_bytes=MAX_PROVIDER_BYTES)
    except (BlockedURL, ResponseTooLarge, httpx.HTTPError) as exc:
        raise request_failure(f"the {name} provider", exc, request=request) from exc
    if response.status_code == 404:
        return answer(shape, text, found=False)
    if response.status_code >= 400:
        raise http_failure(f"the {name} provider", response.status_code, response.headers,
                           request=request, output={"status": response.status_code,
                                                    "body": response.text[:2000]})
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise StepFailed(f"the {name} provider answered something other than a JSON object",
                         request=request, output={"status": response.status_code,
                                                  "body": response.text[:2000]})
    fields = {k: body[k] for k in shape
              if k in body and k not in ("input", "valid", "reason", "credits")}
    fields.setdefault("found", True)
    return answer(shape, text, **fields)
