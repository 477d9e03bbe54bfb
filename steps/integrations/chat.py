"""What Slack, Teams and Discord share: the webhook URL, its host rule, the POST.

The URL is the secret of a chat webhook (anyone holding it can post), so it
comes from a credential of the channel's type (`credential_id`, decrypted by
the executor into `ctx.extras["credential"]`) or, less safely, from
`config.webhook_url` (a literal is host-checked at save). Logs and step
output only ever show the URL's host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from steps.base import ExecContext, Issue, Outcome, StepFailed, timeout_issues
from steps.http import BlockedURL, ResponseTooLarge, guarded_request
from steps.integrations import hosts
from steps.templates import template_issues

DEFAULT_TIMEOUT = 10.0
MAX_MESSAGE_CHARS = 40_000


def text_of(config: dict[str, Any]) -> Any:
    """The message: `message`, or `text`, or 004's OutputTemplate (`template`)."""
    for key in ("message", "text", "template"):
        if config.get(key) not in (None, ""):
            return config[key]
    return None


def validate(channel: str, config: dict[str, Any], where: str,
             extra: Callable[[dict[str, Any], str], list[Issue]] | None = None) -> list[Issue]:
    issues: list[Issue] = []
    url, cred = config.get("webhook_url"), config.get("credential_id")
    if url is None and cred is None:
        issues.append(Issue(f"{where}.webhook_url", f"give webhook_url or credential_id "
                                                    f"(a {channel} credential)"))
    if url is not None:
        if not isinstance(url, str) or not url:
            issues.append(Issue(f"{where}.webhook_url", "must be a URL"))
        elif "{{" not in url:
            why = hosts.refusal(channel, url)
            if why:
                issues.append(Issue(f"{where}.webhook_url", why))
    if cred is not None and not isinstance(cred, str):
        issues.append(Issue(f"{where}.credential_id", "must be a string (a credential id)"))
    if extra is None and text_of(config) is None:
        issues.append(Issue(f"{where}.message", "is required (the text to post)"))
    if extra is not None:
        issues.extend(extra(config, where))
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, 60)
    issues += template_issues(config, where)
    return issues


def webhook_url(channel: str, config: dict[str, Any], ctx: ExecContext) -> str:
    credential = ctx.extras.get("credential")
    if credential is not None:
        if credential.get("type") != channel:
            raise StepFailed(f"a {channel} step needs a {channel} credential, "
                             f"not {credential.get('type')}")
        url = credential.get("webhook_url")
    else:
        url = config.get("webhook_url")
    if not isinstance(url, str) or not url:
        raise StepFailed("no webhook URL: set webhook_url or credential_id")
    why = hosts.refusal(channel, url)
    if why:
        raise StepFailed(f"webhook URL refused: {why}")
    return url


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


async def post(channel: str, url: str, payload: dict[str, Any], ctx: ExecContext,
               timeout: float) -> Outcome:
    """POST the JSON payload; the request in the log names the host only, never the URL."""
    request = {"method": "POST", "host": host_of(url), "channel": channel, "body": payload}
    try:
        response = await guarded_request(
            "POST", url, content=orjson.dumps(payload), timeout=timeout,
            headers={"Content-Type": "application/json",
                     "Idempotency-Key": ctx.idempotency_key})
    except (BlockedURL, ResponseTooLarge) as exc:
        raise StepFailed(f"{channel} webhook refused: {exc}", request=request) from None
    except httpx.TimeoutException:
        raise StepFailed(f"{channel} webhook timed out", retryable=True,
                         request=request) from None
    except httpx.HTTPError as exc:
        raise StepFailed(f"could not reach the {channel} webhook ({type(exc).__name__})",
                         retryable=True, request=request) from None
    body = response.text[:2000]
    output = {"status": response.status_code, "response": body, "host": host_of(url)}
    if response.status_code >= 400:
        retryable = response.status_code >= 500 or response.status_code in (408, 425, 429)
        raise StepFailed(f"{channel} webhook answered HTTP {response.status_code}",
                         retryable=retryable, request=request, output=output)
    return Outcome(output={**output, "sent": True}, request=request)


def message_text(config: dict[str, Any]) -> str | None:
    text = text_of(config)
    if text is None:
        return None
    text = text if isinstance(text, str) else orjson.dumps(text).decode()
    if len(text) > MAX_MESSAGE_CHARS:
        raise StepFailed(f"message longer than {MAX_MESSAGE_CHARS} characters")
    return text
