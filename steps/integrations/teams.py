"""teams: post a message to a Microsoft Teams incoming webhook (reference 004 ActionType 9).

A plain message goes as a MessageCard (title + text), which both Office 365
connectors and Workflows (logic.azure.com) webhooks accept; `card` sends an
Adaptive Card instead, wrapped in the message envelope Teams expects.
"""

from __future__ import annotations

from typing import Any

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.integrations import chat

name = "teams"
kind = "io"
TITLE = "Post a message to a Microsoft Teams incoming webhook"
CONFIG: dict[str, str] = {
    "credential_id": "string: a teams credential holding the webhook URL (preferred)",
    "webhook_url": "string: https://<tenant>.webhook.office.com/... or "
                   "https://<region>.logic.azure.com/... when no credential is used",
    "message": "string: the text, Markdown allowed (templated; `text`/`template` accepted)",
    "title": "string: the card's title (optional)",
    "theme_color": "string: hex colour such as 0076D7 (optional)",
    "card": "object: an Adaptive Card to send instead of the text (optional)",
    "timeout": "number: seconds, default 10",
}
OUTPUT: dict[str, str] = {
    "sent": "true once Teams accepted the message",
    "status": "Teams' HTTP status",
    "response": "Teams' answer",
    "host": "the webhook's host (the URL itself is a secret)",
}


def _extra(config: dict[str, Any], where: str) -> list[Issue]:
    card = config.get("card")
    if card is not None and not isinstance(card, dict):
        return [Issue(f"{where}.card", "must be an Adaptive Card object")]
    if card is None and chat.text_of(config) is None:
        return [Issue(f"{where}.message", "is required (or card)")]
    return []


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return chat.validate(name, config, where, _extra)


def payload(config: dict[str, Any]) -> dict[str, Any]:
    if isinstance(config.get("card"), dict):
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": config["card"]}]}
    text = chat.message_text(config)
    if not text:
        raise StepFailed("nothing to post: the message rendered empty")
    body: dict[str, Any] = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                            "summary": (config.get("title") or text)[:200], "text": text}
    if config.get("title"):
        body["title"] = config["title"]
    if config.get("theme_color"):
        body["themeColor"] = config["theme_color"]
    return body


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    url = chat.webhook_url(name, config, ctx)
    return await chat.post(name, url, payload(config), ctx,
                           float(config.get("timeout", chat.DEFAULT_TIMEOUT)))
