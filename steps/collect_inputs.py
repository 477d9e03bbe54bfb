"""collect_inputs (003's collect-inputs): pause the run until a person submits typed fields.

The fields are declared in `config.fields` (a list of field objects, or 003's
`{name: {type, required, ...}}` map, also accepted as the step's own `output`
key as 003 writes it). The resume body's `data` is checked against them at the
API, and becomes the step's output.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from steps.base import Issue
from steps.human import COLLECT, ResumeInvalid, validate_common

name = COLLECT
ALIASES = ("collect-inputs",)
kind = "human"
PAUSE_TYPE = COLLECT
STEP_LEVEL = ("output",)  # 003 declares the fields at the step's top level
TITLE = "Pause the run until a person submits the declared input fields"
CONFIG: dict[str, str] = {
    "fields": "array | object: the fields, as [{name, type, required, label, description, "
              "options}] or 003's {name: {type, required, ...}} (the step's `output` too)",
    "title": "string (template): shown in the pause signal",
    "message": "string (template): shown in the pause signal",
    "timeout": "number | string: seconds, or 30s, 5m, 2h, 1d; none waits forever",
    "on_timeout": "string: the step to go to when the timeout fires (without it the run fails)",
}
OUTPUT: dict[str, str] = {
    "<field name>": "each submitted field, as submitted (fields not submitted are absent)",
    "timedOut": "true when the timeout fired instead (then no field is present)",
}

TYPES = ("string", "text", "number", "integer", "boolean", "email", "date", "datetime",
         "select", "multiselect")
MAX_FIELDS = 100
MAX_TEXT = 100_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPEC_KEYS = {"name", "id", "type", "required", "label", "description", "options"}


def _raw_fields(config: dict[str, Any]) -> Any:
    return config["fields"] if "fields" in config else config.get("output")


def fields(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared fields, normalized to [{name, type, required, label, description, options}]."""
    raw = _raw_fields(config)
    items = ([{**spec, "name": key} for key, spec in raw.items()] if isinstance(raw, dict)
             else [{**spec, "name": spec.get("name", spec.get("id"))} for spec in raw])
    out = []
    for spec in items:
        field = {"name": spec["name"], "type": spec.get("type", "string"),
                 "required": spec.get("required") is True,
                 "label": spec.get("label"), "description": spec.get("description")}
        if "options" in spec:
            field["options"] = [_option_value(o) for o in spec["options"]]
        out.append(field)
    return out


def _option_value(option: Any) -> Any:
    return option.get("value") if isinstance(option, dict) else option


def _validate_field(spec: Any, where: str) -> list[Issue]:
    if not isinstance(spec, dict):
        return [Issue(where, "must be an object with a type")]
    issues = []
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        issues.append(Issue(f"{where}.{unknown[0]}", f"unknown key; known: {sorted(_SPEC_KEYS)}"))
    type_name = spec.get("type", "string")
    if type_name not in TYPES:
        issues.append(Issue(f"{where}.type", f"unknown field type {type_name!r}; one of {TYPES}"))
    if "required" in spec and not isinstance(spec["required"], bool):
        issues.append(Issue(f"{where}.required", "must be true or false"))
    for key in ("label", "description"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            issues.append(Issue(f"{where}.{key}", "must be text"))
    options = spec.get("options")
    if type_name in ("select", "multiselect"):
        if not isinstance(options, list) or not options:
            issues.append(Issue(f"{where}.options", f"a {type_name} field needs a non-empty "
                                                    "array of options"))
        elif not all(isinstance(_option_value(o), str | int | float)
                     and not isinstance(_option_value(o), bool) for o in options):
            issues.append(Issue(f"{where}.options", "each option is a string or number, or "
                                                    "{value, label}"))
    elif options is not None:
        issues.append(Issue(f"{where}.options", "only select and multiselect fields have "
                                                "options"))
    return issues


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues = validate_common(config, where)
    raw = _raw_fields(config)
    key = "fields" if "fields" in config else "output"
    if isinstance(raw, dict):
        entries = [(f"{where}.{key}.{n}", n, spec) for n, spec in raw.items()]
    elif isinstance(raw, list):
        entries = [(f"{where}.{key}[{i}]", s.get("name", s.get("id"))
                    if isinstance(s, dict) else None, s) for i, s in enumerate(raw)]
        for path, field_name, spec in entries:
            if isinstance(spec, dict) and not isinstance(field_name, str):
                issues.append(Issue(f"{path}.name", "is required"))
    else:
        return [*issues, Issue(f"{where}.fields", "is required: the fields to collect "
                                                  "(an array or a {name: spec} object)")]
    if not entries or len(entries) > MAX_FIELDS:
        issues.append(Issue(f"{where}.{key}", f"declare 1 to {MAX_FIELDS} fields"))
    seen: set[str] = set()
    for path, field_name, spec in entries:
        if isinstance(field_name, str):
            if not _NAME.match(field_name):
                issues.append(Issue(path, "a field name is letters, digits, _ and - "
                                          "(max 64), starting with a letter or _"))
            elif field_name in seen:
                issues.append(Issue(path, f"duplicate field {field_name!r}"))
            seen.add(field_name)
        issues.extend(_validate_field(spec, path))
    return issues


def awaited(config: dict[str, Any]) -> dict[str, Any]:
    """The pause signal's part: the fields the run waits for."""
    return {"fields": fields(config)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(spec: dict[str, Any], value: Any) -> str | None:
    """Why `value` does not fit the field, or None."""
    type_name = spec["type"]
    if type_name in ("string", "text"):
        return None if isinstance(value, str) and len(value) <= MAX_TEXT else (
            f"must be text of at most {MAX_TEXT} characters")
    if type_name == "number":
        return None if _is_number(value) else "must be a number"
    if type_name == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else (
            "must be an integer")
    if type_name == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if type_name == "email":
        if not isinstance(value, str):
            return "must be an email address"
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            return f"must be an email address ({exc})"
        return None
    if type_name == "date":
        try:
            if isinstance(value, str) and _DATE.match(value):
                date.fromisoformat(value)
                return None
        except ValueError:
            pass
        return "must be a date (YYYY-MM-DD)"
    if type_name == "datetime":
        try:
            if isinstance(value, str) and len(value) >= 16:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return None
        except ValueError:
            pass
        return "must be a date-time (e.g. 2024-01-31T09:00:00Z)"
    allowed = spec.get("options") or []
    if type_name == "multiselect":
        if not isinstance(value, list) or any(v not in allowed for v in value):
            return f"must be an array of values from {allowed}"
        return None
    return None if value in allowed and not isinstance(value, bool) else (
        f"must be one of {allowed}")


def answer(declared: list[dict[str, Any]], data: Any) -> dict[str, Any]:
    """The submitted data checked against the declared fields (ResumeInvalid naming one)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ResumeInvalid("data", "must be a JSON object of field values")
    names = {spec["name"] for spec in declared}
    for key in data:
        if key not in names:
            raise ResumeInvalid(f"data.{key}", f"is not a declared field; declared: "
                                               f"{sorted(names)}")
    for spec in declared:
        value = data.get(spec["name"])
        if value is None:
            if spec["required"]:
                raise ResumeInvalid(f"data.{spec['name']}", "is required")
            continue
        problem = _check_value(spec, value)
        if problem is not None:
            raise ResumeInvalid(f"data.{spec['name']}", problem)
    return {k: v for k, v in data.items() if v is not None}
