"""condition: compare a value from the run context and pick the next step."""

from __future__ import annotations

from typing import Any

from steps.base import Issue
from steps.templates import TemplateError, compile_path, lookup, render

name = "condition"
kind = "pure"

_BINARY = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "gte": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "lte": lambda a, b: a is not None and b is not None and a <= b,
    "contains": lambda a, b: a is not None and b in a,
    "not_contains": lambda a, b: a is None or b not in a,
    "in": lambda a, b: b is not None and a in b,
    "starts_with": lambda a, b: isinstance(a, str) and a.startswith(str(b)),
    "ends_with": lambda a, b: isinstance(a, str) and a.endswith(str(b)),
}
_UNARY = {
    "exists": lambda a: a is not None,
    "not_exists": lambda a: a is None,
    "truthy": bool,
    "falsy": lambda a: not a,
}
OPERATORS = sorted([*_BINARY, *_UNARY])


def validate_rule(rule: Any, where: str) -> list[Issue]:
    """Check a {field, op, value} rule; shared by condition steps and graph edges."""
    if not isinstance(rule, dict):
        return [Issue(where, "must be an object with field, op and value")]
    issues = []
    field = rule.get("field")
    if not isinstance(field, str) or not field:
        issues.append(Issue(f"{where}.field", "is required: a path such as steps.lookup.status"))
    else:
        try:
            compile_path(field)
        except TemplateError as exc:
            issues.append(Issue(f"{where}.field", str(exc)))
    op = rule.get("op", "equals")
    if not isinstance(op, str) or (op not in _BINARY and op not in _UNARY):
        issues.append(Issue(f"{where}.op", f"unknown operator {op!r}; one of {OPERATORS}"))
    elif op in _BINARY and "value" not in rule:
        issues.append(Issue(f"{where}.value", f"is required for operator {op!r}"))
    return issues


def evaluate(rule: dict[str, Any], context: dict[str, Any]) -> bool:
    """True when the rule holds; a type mismatch counts as false, not an error."""
    actual = lookup(rule["field"], context)
    op = rule.get("op", "equals")
    try:
        if op in _UNARY:
            return bool(_UNARY[op](actual))
        return bool(_BINARY[op](actual, render(rule.get("value"), context)))
    except TypeError:
        return False


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return validate_rule(config, where)


def execute(config: dict[str, Any], context: dict[str, Any]) -> Any:
    return {"matched": evaluate(config, context)}
