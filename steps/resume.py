"""Check a resume body against a pause signal (the API does it before resuming a run)."""

from __future__ import annotations

from typing import Any

from steps import collect_inputs, user_action
from steps.human import COLLECT, ResumeInvalid


def check_resume(pause: dict[str, Any], body: Any) -> dict[str, Any]:
    """The step output a resume body gives, or ResumeInvalid naming the field."""
    if not isinstance(body, dict):
        raise ResumeInvalid("body", "must be a JSON object")
    kind = body.get("type", pause["type"])
    if kind != pause["type"]:
        raise ResumeInvalid("type", f"the run waits for {pause['type']!r}, not {kind!r}")
    if kind == COLLECT:
        return collect_inputs.answer(pause["fields"], body.get("data"))
    return user_action.answer(pause["actions"], body)
