"""The config of a saved integration (reference 002's `/api/workflows/integrations`), per type.

| type    | fields (secret ones encrypted at rest, never shown)               |
|---------|-------------------------------------------------------------------|
| slack   | webhook_url (secret, hooks.slack.com), channel                    |
| teams   | webhook_url (secret, Teams' hosts)                                |
| discord | webhook_url (secret, discord.com/api/webhooks/...)                |
| email   | credential_id (an smtp credential), to, cc, bcc, subject, template |
| webhook | url, method, headers (secret: they usually carry a token)          |

`split(type, config)` checks a config and returns (public, secret) parts, or
raises IntegrationInvalid with (field, message) pairs such as
`config.webhook_url`.
"""

from __future__ import annotations

from typing import Any

from steps.base import StepFailed
from steps.integrations import hosts
from steps.integrations.recipients import emails, literal, recipient_list

TYPES = ("slack", "teams", "discord", "email", "webhook")
SECRET_FIELDS = {"slack": ("webhook_url",), "teams": ("webhook_url",),
                 "discord": ("webhook_url",), "email": (), "webhook": ("headers",)}
FIELDS = {"slack": ("webhook_url", "channel"), "teams": ("webhook_url",),
          "discord": ("webhook_url",),
          "email": ("credential_id", "to", "cc", "bcc", "subject", "template"),
          "webhook": ("url", "method", "headers")}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_TEXT = 64 * 1024


class IntegrationInvalid(ValueError):
    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in issues))
        self.issues = issues


def _check(itype: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    for key, value in config.items():
        if key not in FIELDS[itype]:
            issues.append((f"config.{key}", f"unknown field for {itype}; allowed: "
                                            f"{', '.join(FIELDS[itype])}"))
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            issues.append((f"config.{key}", f"must be at most {MAX_TEXT} characters"))
    if itype in ("slack", "teams", "discord"):
        url = config.get("webhook_url")
        if not isinstance(url, str) or not url:
            issues.append(("config.webhook_url", "is required"))
        else:
            why = hosts.refusal(itype, url)
            if why:
                issues.append(("config.webhook_url", why))
        channel = config.get("channel")
        if channel is not None and not isinstance(channel, str):
            issues.append(("config.channel", "must be a string such as #alerts"))
    elif itype == "email":
        if not isinstance(config.get("credential_id"), str) or not config["credential_id"]:
            issues.append(("config.credential_id", "is required (an smtp credential)"))
        if config.get("to") in (None, "", []):
            issues.append(("config.to", "is required"))
        for key in ("to", "cc", "bcc"):
            value = config.get(key)
            if value is None:
                continue
            if not recipient_list(value):
                issues.append((f"config.{key}", "must be an address or a list of them"))
            elif literal(value):
                try:
                    emails(value, key)
                except StepFailed as exc:
                    issues.append((f"config.{key}", str(exc)))
        for key in ("subject", "template"):
            if config.get(key) is not None and not isinstance(config[key], str):
                issues.append((f"config.{key}", "must be a string"))
    elif itype == "webhook":
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            issues.append(("config.url", "must be an http:// or https:// URL"))
        method = config.get("method", "POST")
        if not isinstance(method, str) or method.upper() not in METHODS:
            issues.append(("config.method", f"must be one of {', '.join(METHODS)}"))
        headers = config.get("headers")
        if headers is not None and (not isinstance(headers, dict) or not all(
                isinstance(v, str) for v in headers.values())):
            issues.append(("config.headers", "must be an object of string values"))
    return issues


def split(itype: Any, config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public, secret) of a valid config; IntegrationInvalid naming each bad field."""
    if itype not in TYPES:
        raise IntegrationInvalid([("integration_type", f"must be one of {', '.join(TYPES)}")])
    if not isinstance(config, dict):
        raise IntegrationInvalid([("config", "must be an object")])
    issues = _check(itype, config)
    if issues:
        raise IntegrationInvalid(issues)
    if itype == "webhook":
        config = {**config, "method": str(config.get("method", "POST")).upper()}
    secret = {k: v for k, v in config.items() if k in SECRET_FIELDS[itype] and v is not None}
    public = {k: v for k, v in config.items() if k not in secret}
    return public, secret
