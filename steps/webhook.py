"""webhook: an outbound HTTP call whose response becomes the step output."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from steps.base import ExecContext, Issue, Outcome, StepFailed, headers_issues, timeout_issues
from steps.errors import http_failure, request_failure
from steps.http import (
    BlockedURL,
    Fetched,
    ResponseTooLarge,
    check_url,
    guarded_request,
    redact_headers,
)
from steps.templates import template_issues

name = "webhook"
ALIASES = ("http",)  # issue 7 names both; one module, one behaviour
kind = "io"

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
MAX_BODY_CHARS = 256_000
CREDENTIAL_TYPES = ("http_bearer", "http_basic", "http_api_key")  # credential_id may name

TITLE = "Call an HTTP endpoint (GET/POST/PUT/PATCH/DELETE) through the guarded client"
CONFIG: dict[str, str] = {
    "url": "string, required: http(s) URL, templated; checked by the outbound guard",
    "method": "string: GET, POST (default), PUT, PATCH or DELETE",
    "headers": "object of strings: templated; secrets via {{secrets.name}}",
    "query": "object: query parameters, templated",
    "body": "any JSON: templated request body (not sent with GET)",
    "credential_id": "string: an http_bearer, http_basic or http_api_key credential",
    "timeout": f"number: seconds, default {DEFAULT_TIMEOUT:g}, at most {MAX_TIMEOUT:g}",
}
OUTPUT: dict[str, str] = {
    "status": "the HTTP status code",
    "body": "the response body: parsed JSON when the peer says JSON, else text (256 KB cap)",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues = []
    url = config.get("url")
    if not isinstance(url, str) or not url:
        issues.append(Issue(f"{where}.url", "is required"))
    elif "{{" not in url and not url.startswith(("http://", "https://")):
        issues.append(Issue(f"{where}.url", "must be an http:// or https:// URL"))
    method = str(config.get("method", "POST")).upper()
    if method not in METHODS:
        issues.append(Issue(f"{where}.method", f"must be one of {', '.join(METHODS)}"))
    issues += headers_issues(config, where)
    if "credential_id" in config and not isinstance(config["credential_id"], str):
        issues.append(Issue(f"{where}.credential_id", "must be a string (a credential id)"))
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, MAX_TIMEOUT)
    issues += template_issues(config, where)
    return issues


def _response_body(response: Fetched) -> Any:
    text = response.text
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except orjson.JSONDecodeError:
            pass
    return text[:MAX_BODY_CHARS]


def _apply_credential(credential: dict[str, Any], headers: dict[str, str],
                      params: Any) -> httpx.BasicAuth | None:
    """Put an HTTP credential (ctx.extras["credential"]) on the request; basic auth returned."""
    ctype = credential.get("type")
    if ctype == "http_bearer":
        headers["Authorization"] = f"Bearer {credential['token']}"
    elif ctype == "http_basic":
        return httpx.BasicAuth(credential["username"], credential["password"])
    elif ctype == "http_api_key":
        name = credential.get("header_name") or "X-API-Key"
        if credential.get("location") == "query":
            if not isinstance(params, dict):
                raise StepFailed("query must be an object to carry the API key credential")
            params[name] = credential["api_key"]
        else:
            headers[name] = credential["api_key"]
    else:
        raise StepFailed(f"a webhook step cannot use a {ctype} credential; use one of "
                         f"{', '.join(CREDENTIAL_TYPES)}")
    return None


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    method = str(config.get("method", "POST")).upper()
    url = str(config.get("url"))
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers.setdefault("Idempotency-Key", ctx.idempotency_key)
    query = config.get("query")
    params: Any = dict(query) if isinstance(query, dict) else (query or {})
    credential = ctx.extras.get("credential")
    auth = _apply_credential(credential, headers, params) if credential else None
    body = config.get("body")
    request = {"method": method, "url": url, "headers": redact_headers(headers), "body": body}
    if params:
        request["query"] = params  # secrets in it are masked by the executor
    if credential:
        request["auth"] = credential["type"]
    try:
        check_url(url)
    except BlockedURL as exc:
        raise StepFailed(str(exc), request=request) from exc
    content = None
    if body is not None and method != "GET":
        content = orjson.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    try:
        response = await guarded_request(
            method, url, headers=headers, content=content, params=params or None, auth=auth,
            timeout=float(config.get("timeout", DEFAULT_TIMEOUT)))
    except (BlockedURL, ResponseTooLarge, httpx.HTTPError) as exc:  # classified in one place
        raise request_failure(url, exc, request=request) from exc
    output = {"status": response.status_code, "body": _response_body(response)}
    if response.status_code >= 400:
        raise http_failure(url, response.status_code, response.headers, request=request,
                           output=output)
    return Outcome(output=output, request=request)
