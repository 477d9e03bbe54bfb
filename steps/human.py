"""What the two human steps share: timeout, texts, the pause signal, resume checks.

A human step pauses the run until a person answers through the resume API
(or its timeout fires). Everything here is pure: the run agent builds the
pause signal with `signal()`; the API checks a resume body against it
(steps/resume.py) before any command is sent, so a bad answer never reaches
the run.
"""

from __future__ import annotations

from typing import Any

from steps.base import Issue
from steps.delay import MAX_SECONDS, BadDelay, seconds
from steps.templates import TemplateError, check, render

COLLECT = "collect_inputs"
ACTION = "request_user_action"
TEXTS = ("title", "message")


class ResumeInvalid(ValueError):
    """A resume body that does not answer the pause; `field` names the bad part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def timeout_seconds(config: dict[str, Any]) -> float | None:
    """The wait before the timeout branch: a number of seconds or "30s"/"5m"/"2h"/"1d"."""
    value = config.get("timeout")
    if value is None:
        return None
    if isinstance(value, str):
        return seconds({"duration": value})
    return seconds({"seconds": value})


def validate_common(config: dict[str, Any], where: str) -> list[Issue]:
    """timeout, on_timeout and the templated texts."""
    issues = []
    try:
        wait = timeout_seconds(config)
        if wait is not None and not 0 < wait <= MAX_SECONDS:
            issues.append(Issue(f"{where}.timeout", "must be more than 0 and at most 30 days"))
    except BadDelay as exc:
        issues.append(Issue(f"{where}.timeout", str(exc)))
    target = config.get("on_timeout")
    if target is not None and not isinstance(target, str):
        issues.append(Issue(f"{where}.on_timeout", "must be a step id"))
    elif target is not None and "timeout" not in config:
        issues.append(Issue(f"{where}.on_timeout", "needs a timeout"))
    for key in TEXTS:
        if key in config:
            if not isinstance(config[key], str) or len(config[key]) > 10_000:
                issues.append(Issue(f"{where}.{key}", "must be text of at most 10000 characters"))
                continue
            try:
                check(config[key])
            except TemplateError as exc:
                issues.append(Issue(f"{where}.{key}", str(exc)))
    return issues


def signal(pause_type: str, step_id: str, step_type: str, config: dict[str, Any],
           context: dict[str, Any], awaited: dict[str, Any], expires_ms: int | None
           ) -> dict[str, Any]:
    """The pause signal: what the run waits for, texts rendered (secrets never rendered)."""
    texts = {key: render(config[key], {**context, "secrets": {}})
             for key in TEXTS if key in config}
    return {"type": pause_type, "stepId": step_id, "stepType": step_type,
            "title": texts.get("title"), "message": texts.get("message"), **awaited,
            "expiresAtMs": expires_ms}
