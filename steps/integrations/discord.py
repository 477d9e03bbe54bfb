"""discord: post a message to a Discord webhook (reference 004 ActionType 11)."""

from __future__ import annotations

from typing import Any

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.integrations import chat

name = "discord"
kind = "io"
TITLE = "Post a message to a Discord webhook"
MAX_CONTENT = 2000  # Discord refuses longer content
CONFIG: dict[str, str] = {
    "credential_id": "string: a discord credential holding the webhook URL (preferred)",
    "webhook_url": "string: https://discord.com/api/webhooks/... when no credential is used",
    "message": "string: the content, at most 2000 characters (templated; `text`/`template` "
               "accepted)",
    "embeds": "array: Discord embed objects (optional)",
    "username": "string: override the webhook's name (optional)",
    "avatar_url": "string: override the webhook's avatar (optional)",
    "timeout": "number: seconds, default 10",
}
OUTPUT: dict[str, str] = {
    "sent": "true once Discord accepted the message",
    "status": "Discord's HTTP status (204)",
    "response": "Discord's answer (empty)",
    "host": "the webhook's host (the URL itself is a secret)",
}


def _extra(config: dict[str, Any], where: str) -> list[Issue]:
    embeds = config.get("embeds")
    if embeds is not None and not isinstance(embeds, list):
        return [Issue(f"{where}.embeds", "must be an array of embed objects")]
    if not embeds and chat.text_of(config) is None:
        return [Issue(f"{where}.message", "is required (or embeds)")]
    return []


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return chat.validate(name, config, where, _extra)


def payload(config: dict[str, Any]) -> dict[str, Any]:
    text = chat.message_text(config)
    body: dict[str, Any] = {}
    if text:
        if len(text) > MAX_CONTENT:
            raise StepFailed(f"message is {len(text)} characters; Discord takes at most "
                             f"{MAX_CONTENT}")
        body["content"] = text
    if config.get("embeds"):
        body["embeds"] = config["embeds"]
    for key in ("username", "avatar_url"):
        if config.get(key):
            body[key] = config[key]
    if not body.get("content") and not body.get("embeds"):
        raise StepFailed("nothing to post: the message rendered empty")
    return body


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    url = chat.webhook_url(name, config, ctx)
    return await chat.post(name, url, payload(config), ctx,
                           float(config.get("timeout", chat.DEFAULT_TIMEOUT)))
