"""request_user_action (003's request-user-action): pause until a person picks an action.

Each action has an id and the values it allows (e.g. approved / rejected);
the resume body names one action (`actionId`) and one of its values
(`actionValue`), checked at the API, and they become the step's output.
"""

from __future__ import annotations

import re
from typing import Any

from steps.base import Issue
from steps.human import ACTION, ResumeInvalid, validate_common

name = ACTION
ALIASES = ("request-user-action",)
kind = "human"
PAUSE_TYPE = ACTION
TITLE = "Pause the run until a person picks one of the declared actions and values"
CONFIG: dict[str, str] = {
    "actions": "array: [{id, label, values}], values being strings or {value, label}",
    "title": "string (template): shown in the pause signal",
    "message": "string (template): shown in the pause signal",
    "timeout": "number | string: seconds, or 30s, 5m, 2h, 1d; none waits forever",
    "on_timeout": "string: the step to go to when the timeout fires (without it the run fails)",
}
OUTPUT: dict[str, str] = {
    "actionId": "the action picked",
    "actionValue": "the value picked (one the action allows)",
    "timedOut": "true when the timeout fired instead (then no action is present)",
}

MAX_ACTIONS = 20
MAX_VALUES = 50
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _value(option: Any) -> Any:
    return option.get("value") if isinstance(option, dict) else option


def _label(option: Any) -> Any:
    return option.get("label") if isinstance(option, dict) else None


def _validate_action(action: Any, where: str, seen: set[str]) -> list[Issue]:
    if not isinstance(action, dict):
        return [Issue(where, "must be an object with id and values")]
    issues = []
    action_id = action.get("id")
    if not isinstance(action_id, str) or not _ID.match(action_id):
        issues.append(Issue(f"{where}.id", "is required: letters, digits, _ . - (max 64)"))
    elif action_id in seen:
        issues.append(Issue(f"{where}.id", f"duplicate action id {action_id!r}"))
    else:
        seen.add(action_id)
    if action.get("label") is not None and not isinstance(action["label"], str):
        issues.append(Issue(f"{where}.label", "must be text"))
    values = action.get("values")
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
        issues.append(Issue(f"{where}.values", f"is required: 1 to {MAX_VALUES} allowed values"))
        return issues
    plain = [_value(v) for v in values]
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in plain):
        issues.append(Issue(f"{where}.values", "each value is a string or number, or "
                                               "{value, label}"))
    elif len(set(plain)) != len(plain):
        issues.append(Issue(f"{where}.values", "values must be distinct"))
    return issues


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues = validate_common(config, where)
    actions = config.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        return [*issues, Issue(f"{where}.actions",
                               f"is required: 1 to {MAX_ACTIONS} actions with id and values")]
    seen: set[str] = set()
    for i, action in enumerate(actions):
        issues.extend(_validate_action(action, f"{where}.actions[{i}]", seen))
    return issues


def awaited(config: dict[str, Any]) -> dict[str, Any]:
    """The pause signal's part: the actions with their ids and allowed values."""
    return {"actions": [{"id": a["id"], "label": a.get("label"),
                         "values": [_value(v) for v in a["values"]],
                         "valueLabels": [_label(v) for v in a["values"]]}
                        for a in config["actions"]]}


def answer(actions: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """{actionId, actionValue} checked against the declared actions (ResumeInvalid naming one)."""
    by_id = {a["id"]: a for a in actions}
    action_id = body.get("actionId")
    if action_id is None and len(actions) == 1:
        action_id = actions[0]["id"]  # one action: naming it is optional
    if not isinstance(action_id, str):
        raise ResumeInvalid("actionId", f"is required: one of {sorted(by_id)}")
    if action_id not in by_id:
        raise ResumeInvalid("actionId", f"unknown action {action_id!r}; one of {sorted(by_id)}")
    allowed = by_id[action_id]["values"]
    value = body.get("actionValue")
    if value is None:
        raise ResumeInvalid("actionValue", f"is required: one of {allowed}")
    if isinstance(value, bool) or value not in allowed:
        raise ResumeInvalid("actionValue", f"{value!r} is not allowed for {action_id!r}; "
                                           f"one of {allowed}")
    return {"actionId": action_id, "actionValue": value}
