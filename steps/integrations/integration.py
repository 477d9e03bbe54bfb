"""integration: send through an integration saved at /api/workflows/integrations (002).

The executor resolves `integration_id` (streams/step_secrets.py) into
`ctx.extras["integration"]`: its type and config with secrets decrypted (and,
for an email integration, its smtp credential into `ctx.extras["credential"]`).
The step's own fields (`message`/`template`, `subject`, `body`...) fill or
override the message; where it goes (webhook URL, recipients' defaults)
comes from the integration. Sending reuses the slack/teams/discord, email
and webhook steps, so their rules (host checks, sanitizing, caps) hold here.
"""

from __future__ import annotations

from typing import Any

from steps import webhook
from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.integrations import discord, mail, slack, teams
from steps.templates import template_issues

name = "integration"
kind = "io"
sends = True  # an email integration counts against the plan's caps
TITLE = "Send through a saved integration (slack, teams, discord, email, webhook)"
CONFIG: dict[str, str] = {
    "integration_id": "string: the integration's id (from /api/workflows/integrations)",
    "message": "string: the text to send (002's `template` also accepted; templated)",
    "subject": "string: email subject (overrides the integration's)",
    "to": "string or array: email recipients (override the integration's)",
    "body": "any: webhook body (default {\"message\": message})",
}
OUTPUT: dict[str, str] = {
    "integration_type": "the integration's type",
    "result": "the output of the type's sender (see slack, email, webhook)",
}
_CHAT = {"slack": slack, "teams": teams, "discord": discord}
_DESTINATION = ("webhook_url", "url", "credential_id")  # only the integration names these


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(config.get("integration_id"), str) or not config["integration_id"]:
        issues.append(Issue(f"{where}.integration_id", "is required (an integration id)"))
    issues.extend(Issue(f"{where}.{key}", "comes from the integration; not allowed here")
                  for key in _DESTINATION if key in config)
    issues += template_issues(config, where)
    return issues


def _message(config: dict[str, Any]) -> Any:
    for key in ("message", "template", "text"):
        if config.get(key) not in (None, ""):
            return config[key]
    return None


def merged(itype: str, saved: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The config the type's sender gets: the integration's, with the step's message."""
    step = {k: v for k, v in config.items() if k not in ("integration_id", *_DESTINATION)}
    text = _message(config)
    if itype in _CHAT:
        out = {**step, "webhook_url": saved.get("webhook_url")}
        if saved.get("channel") and "channel" not in step:
            out["channel"] = saved["channel"]
        return out
    if itype == "email":
        out = {k: saved[k] for k in ("to", "cc", "bcc", "subject") if saved.get(k)}
        out.update({k: v for k, v in step.items() if k not in ("message", "template")})
        body = text if text is not None else saved.get("template")
        if body is not None and "html" not in out and "body" not in out:
            out["html"] = body
        out["credential_id"] = saved.get("credential_id")
        return out
    if itype == "webhook":
        body = step.get("body", {"message": text} if text is not None else None)
        return {"url": saved.get("url"), "method": saved.get("method", "POST"),
                "headers": dict(saved.get("headers") or {}), "body": body,
                **({"timeout": step["timeout"]} if "timeout" in step else {})}
    raise StepFailed(f"integration type {itype!r} cannot send")


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    saved = ctx.extras.get("integration")
    if not saved:
        raise StepFailed(f"integration {config.get('integration_id')!r} not found")
    itype = str(saved.get("type"))
    target = merged(itype, saved, config)
    if itype in _CHAT:
        sender_ctx = ExecContext(ctx.run_id, ctx.tenant, ctx.step_id, ctx.attempt,
                                 {k: v for k, v in ctx.extras.items() if k != "credential"})
        outcome = await _CHAT[itype].execute(target, sender_ctx)
    elif itype == "email":
        outcome = await mail.execute(target, ctx)
    else:
        outcome = await webhook.execute(target, ExecContext(
            ctx.run_id, ctx.tenant, ctx.step_id, ctx.attempt, {}))
    return Outcome(output={"integration_type": itype, "result": outcome.output},
                   request={"integration_id": config.get("integration_id"),
                            "integration_type": itype, **(outcome.request or {})},
                   credits=outcome.credits)
