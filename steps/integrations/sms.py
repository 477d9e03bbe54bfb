"""sms: send a text message in the Twilio REST shape (reference 004 ActionType 1, SendSms).

One `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` per
recipient, form-encoded `To`, `From`, `Body`, basic auth (AccountSid,
AuthToken) from a twilio credential, through the guarded client. `base` is
`https://api.twilio.com` unless the operator sets `HOPFLOW_TWILIO_BASE_URL`
(a Twilio-compatible gateway, or a local server in tests). The plan's caps
(recipients per message, SMS per day, one per recipient) are reserved
before the first message goes out.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from steps.base import ExecContext, Issue, Outcome, StepFailed, timeout_issues
from steps.http import BlockedURL, ResponseTooLarge, guarded_request
from steps.integrations import quota
from steps.integrations.recipients import literal, phones, recipient_list
from steps.templates import template_issues

name = "sms"
kind = "io"
sends = True  # the executor gives it ctx.extras["reserve"]
TITLE = "Send an SMS through Twilio's Messages API"
DEFAULT_BASE = "https://api.twilio.com"
MAX_BODY = 1600  # Twilio's limit for one message
DEFAULT_TIMEOUT = 15.0
CONFIG: dict[str, str] = {
    "credential_id": "string: a twilio credential (account_sid, auth_token, from_number)",
    "to": "string or array: E.164 numbers (+14155550100; comma-separated or a list)",
    "message": "string: the text, at most 1600 characters (templated; `body` or 004's "
               "`template` also accepted)",
    "from": "string: an E.164 sender overriding the credential's from_number (optional)",
    "timeout": "number: seconds per message, default 15",
}
OUTPUT: dict[str, str] = {
    "sid": "the first message's SID (SM...)",
    "status": "the first message's status (queued, sent, ...)",
    "messages": "one {to, sid, status} per recipient",
    "sent": "how many messages Twilio accepted",
}


def body_of(config: dict[str, Any]) -> Any:
    for key in ("message", "body", "template", "text"):
        if config.get(key) not in (None, ""):
            return config[key]
    return None


def base_url() -> str:
    return os.environ.get("HOPFLOW_TWILIO_BASE_URL", "").strip().rstrip("/") or DEFAULT_BASE


def messages_url(account_sid: str, base: str | None = None) -> str:
    return f"{base or base_url()}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(config.get("credential_id"), str) or not config["credential_id"]:
        issues.append(Issue(f"{where}.credential_id", "is required (a twilio credential)"))
    to = config.get("to")
    if to in (None, "", []):
        issues.append(Issue(f"{where}.to", "is required (one or more E.164 numbers)"))
    elif not recipient_list(to):
        issues.append(Issue(f"{where}.to", "must be a number or a list of numbers"))
    elif literal(to):
        try:
            phones(to, "to")
        except StepFailed as exc:
            issues.append(Issue(f"{where}.to", str(exc)))
    body = body_of(config)
    if body is None:
        issues.append(Issue(f"{where}.message", "is required"))
    elif not isinstance(body, str):
        issues.append(Issue(f"{where}.message", "must be a string"))
    elif "{{" not in body and len(body) > MAX_BODY:
        issues.append(Issue(f"{where}.message", f"must be at most {MAX_BODY} characters"))
    sender = config.get("from")
    if sender is not None:
        try:
            if not isinstance(sender, str) or (
                    literal(sender) and len(phones(sender, "from")) != 1):
                raise StepFailed("not one number")
        except StepFailed:
            issues.append(Issue(f"{where}.from", "must be one E.164 number"))
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, 60)
    issues += template_issues(config, where)
    return issues


def form(to: str, sender: str, body: str) -> dict[str, str]:
    """Twilio's Messages.json form fields."""
    return {"To": to, "From": sender, "Body": body}


def _answer(response: Any) -> Any:
    try:
        return response.json()
    except orjson.JSONDecodeError:
        return response.text[:2000]


async def _send_one(url: str, auth: httpx.BasicAuth, fields: dict[str, str], key: str,
                    timeout: float, request: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await guarded_request(
            "POST", url, auth=auth, timeout=timeout,
            content=httpx.QueryParams(fields).__str__().encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "I-Twilio-Idempotency-Token": key})
    except (BlockedURL, ResponseTooLarge) as exc:
        raise StepFailed(f"SMS gateway refused: {exc}", request=request) from None
    except httpx.TimeoutException:
        raise StepFailed("SMS gateway timed out", retryable=True, request=request) from None
    except httpx.HTTPError as exc:
        raise StepFailed(f"could not reach the SMS gateway ({type(exc).__name__})",
                         retryable=True, request=request) from None
    answer = _answer(response)
    if response.status_code >= 400:
        detail = answer.get("message") if isinstance(answer, dict) else None
        retryable = response.status_code >= 500 or response.status_code == 429
        raise StepFailed(f"Twilio answered HTTP {response.status_code}"
                         + (f": {detail}" if detail else ""), retryable=retryable,
                         request=request, output={"status": response.status_code,
                                                  "body": answer})
    if not isinstance(answer, dict):
        raise StepFailed("Twilio's answer is not JSON", retryable=True, request=request)
    return {"to": fields["To"], "sid": answer.get("sid"), "status": answer.get("status")}


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = ctx.extras.get("credential")
    if not credential or credential.get("type") != "twilio":
        raise StepFailed("an sms step needs a twilio credential (credential_id)")
    to = phones(config.get("to"), "to")
    if not to:
        raise StepFailed("to rendered empty: no recipient")
    body = body_of(config)
    if not isinstance(body, str) or not body.strip():
        raise StepFailed("message rendered empty")
    if len(body) > MAX_BODY:
        raise StepFailed(f"message is {len(body)} characters; at most {MAX_BODY}")
    sender = phones(config.get("from"), "from")[:1] or [str(credential["from_number"])]
    url = messages_url(str(credential["account_sid"]))
    request = {"method": "POST", "url": url, "from": sender[0], "to": to, "body": body,
               "auth": "twilio"}
    auth = httpx.BasicAuth(str(credential["account_sid"]), str(credential["auth_token"]))
    timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    await quota.reserve(ctx, "sms", len(to), len(to))
    sent = [await _send_one(url, auth, form(number, sender[0], body),
                            f"{ctx.idempotency_key}:{i}", timeout, request)
            for i, number in enumerate(to)]
    return Outcome(output={"sid": sent[0]["sid"], "status": sent[0]["status"],
                           "messages": sent, "sent": len(sent)}, request=request)
