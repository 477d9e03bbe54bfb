"""slack: post a message to a Slack incoming webhook (reference 004 ActionType 10)."""

from __future__ import annotations

from typing import Any

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.integrations import chat

name = "slack"
kind = "io"
TITLE = "Post a message to a Slack incoming webhook"
CONFIG: dict[str, str] = {
    "credential_id": "string: a slack credential holding the webhook URL (preferred)",
    "webhook_url": "string: https://hooks.slack.com/... when no credential is used",
    "message": "string: the text (templated; `text` or 004's `template` also accepted)",
    "blocks": "array: Slack Block Kit blocks (optional, templated)",
    "channel": "string: override the webhook's channel (legacy webhooks only)",
    "username": "string: display name (optional)",
    "icon_emoji": "string: e.g. :robot_face: (optional)",
    "timeout": "number: seconds, default 10",
}
OUTPUT: dict[str, str] = {
    "sent": "true once Slack accepted the message",
    "status": "Slack's HTTP status",
    "response": "Slack's answer (\"ok\")",
    "host": "the webhook's host (the URL itself is a secret)",
}


def _extra(config: dict[str, Any], where: str) -> list[Issue]:
    issues = []
    blocks = config.get("blocks")
    if blocks is not None and not isinstance(blocks, list):
        issues.append(Issue(f"{where}.blocks", "must be an array of Block Kit blocks"))
    if chat.text_of(config) is None and not blocks:
        issues.append(Issue(f"{where}.message", "is required (or blocks)"))
    return issues


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return chat.validate(name, config, where, _extra)


def payload(config: dict[str, Any], ctx: ExecContext) -> dict[str, Any]:
    text = chat.message_text(config)
    body: dict[str, Any] = {}
    if text is not None:
        body["text"] = text
    if config.get("blocks"):
        body["blocks"] = config["blocks"]
    credential = ctx.extras.get("credential") or {}
    channel = config.get("channel") or credential.get("channel")
    if channel:
        body["channel"] = channel
    for key in ("username", "icon_emoji"):
        if config.get(key):
            body[key] = config[key]
    if not body.get("text") and not body.get("blocks"):
        raise StepFailed("nothing to post: the message rendered empty")
    return body


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    url = chat.webhook_url(name, config, ctx)
    return await chat.post(name, url, payload(config, ctx), ctx,
                           float(config.get("timeout", chat.DEFAULT_TIMEOUT)))
