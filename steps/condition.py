"""condition: decide a branch from rules over the run context (also graph edge conditions).

A rule is one of:
- `{"field": path, "op": operator, "value": v}`: compare a JMESPath value;
- `{"all": [rule, ...]}` / `{"any": [rule, ...]}` / `{"not": rule}`: groups,
  nested at most MAX_DEPTH deep;
- `{"expression": jmespath}`: the expression's truthiness decides (JMESPath's:
  null, false, "", [] and {} are false; every number is true).
No eval anywhere: paths and expressions are JMESPath, patterns are regexes run
with a timeout (a timeout counts as no match and is noted in the output).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import regex

from steps.base import Issue
from steps.templates import TemplateError, check, compile_path, lookup, render

name = "condition"
kind = "pure"

TITLE = "Compare values from the run and branch to then/else"
CONFIG = {
    "field": "string: JMESPath path of the value to test (e.g. steps.lookup.status)",
    "op": "string: operator (default equals); see OPERATORS",
    "value": "any: the value compared with (templated); a regex for regex/not_regex",
    "ignore_case": "boolean: regex operators ignore case",
    "all": "array: rules that must all hold (instead of field/op/value)",
    "any": "array: rules of which one must hold",
    "not": "object: a rule that must not hold",
    "expression": "string: JMESPath expression whose truthiness decides",
    "then": "string: step id when the rules hold",
    "else": "string: step id when they do not",
}
OUTPUT = {"matched": "boolean: whether the rules held",
          "branch": "string: then or else",
          "notes": "array: regex timeouts and unreadable dates (only when any)"}

MAX_DEPTH = 8
MAX_RULES = 100
REGEX_TIMEOUT_SECONDS = 0.05
# All of one evaluation's regexes together: a rule may hold 100 of them, and 100 x 50 ms
# is 5 s of the run agent (conditions run there, in place) for every run.
REGEX_BUDGET_SECONDS = 0.25


class _Notes(list[str]):
    """An evaluation's notes, and the deadline its regexes share."""

    def __init__(self) -> None:
        super().__init__()
        self.deadline: float | None = None
_MS_THRESHOLD = 100_000_000_000  # epoch numbers above this are milliseconds


def _number(value: Any) -> float | None:
    """A number, or a string holding one; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """A pair that compares: numbers (numeric strings coerced) or two strings."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return x, y
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def _equals(a: Any, b: Any) -> bool:
    if a == b and isinstance(a, bool) == isinstance(b, bool):
        return True
    if isinstance(a, str) != isinstance(b, str):  # 3 equals "3", "3.0" equals 3
        x, y = _number(a), _number(b)
        return x is not None and x == y
    return False


def _compare(test: Any) -> Any:
    def op(a: Any, b: Any) -> bool:
        pair = _ordered(a, b)
        return pair is not None and bool(test(*pair))
    return op


def _instant(value: Any) -> datetime | None:
    """An aware datetime from ISO-8601 text, epoch seconds/milliseconds, or "now"."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return datetime.now(UTC)
        if _number(text) is None:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    number = _number(value)
    if number is None:
        return None
    if abs(number) > _MS_THRESHOLD:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


_DATE = {
    "before": lambda a, b: a < b,
    "after": lambda a, b: a > b,
    "on_or_before": lambda a, b: a <= b,
    "on_or_after": lambda a, b: a >= b,
    "same_day": lambda a, b: a.date() == b.date(),
}
_BINARY = {
    "equals": _equals,
    "not_equals": lambda a, b: not _equals(a, b),
    "gt": _compare(lambda a, b: a > b),
    "gte": _compare(lambda a, b: a >= b),
    "lt": _compare(lambda a, b: a < b),
    "lte": _compare(lambda a, b: a <= b),
    "contains": lambda a, b: a is not None and b in a,
    "not_contains": lambda a, b: a is None or b not in a,
    "in": lambda a, b: b is not None and a in b,
    "starts_with": lambda a, b: isinstance(a, str) and a.startswith(str(b)),
    "ends_with": lambda a, b: isinstance(a, str) and a.endswith(str(b)),
}
_REGEX = ("regex", "not_regex")
_UNARY = {
    "exists": lambda a: a is not None,
    "not_exists": lambda a: a is None,
    "truthy": bool,
    "falsy": lambda a: not a,
}
OPERATORS = sorted([*_BINARY, *_DATE, *_REGEX, *_UNARY])
_GROUPS = ("all", "any", "not", "expression")
_BRANCHES = ("then", "else")


@lru_cache(maxsize=512)
def _pattern(text: str, ignore_case: bool) -> Any:
    return regex.compile(text, regex.IGNORECASE if ignore_case else 0)


def _jmespath_true(value: Any) -> bool:
    return value is not None and value is not False and value not in ("", [], {})


# ---------------------------------------------------------------- validation

def validate_rule(rule: Any, where: str) -> list[Issue]:
    """Check a rule or group; shared by condition steps and graph edges."""
    issues: list[Issue] = []
    _check(rule, where, 1, [0], issues)
    return issues


def _check(rule: Any, where: str, depth: int, count: list[int], issues: list[Issue]) -> None:
    count[0] += 1
    if count[0] > MAX_RULES:
        if count[0] == MAX_RULES + 1:
            issues.append(Issue(where, f"at most {MAX_RULES} rules per condition"))
        return
    if depth > MAX_DEPTH:
        issues.append(Issue(where, f"groups nested deeper than {MAX_DEPTH}"))
        return
    if not isinstance(rule, dict):
        issues.append(Issue(where, "must be an object: {field, op, value}, {all: [...]}, "
                                   "{any: [...]}, {not: rule} or {expression: ...}"))
        return
    groups = [k for k in _GROUPS if k in rule]
    if len(groups) > 1 or (groups and "field" in rule):
        issues.append(Issue(where, f"use one of field, {', '.join(_GROUPS)} per rule"))
        return
    if groups:
        key = groups[0]
        if key in ("all", "any"):
            members = rule[key]
            if not isinstance(members, list) or not members:
                issues.append(Issue(f"{where}.{key}", "must be a non-empty array of rules"))
                return
            for i, member in enumerate(members):
                _check(member, f"{where}.{key}[{i}]", depth + 1, count, issues)
        elif key == "not":
            _check(rule["not"], f"{where}.not", depth + 1, count, issues)
        else:
            _check_path(rule["expression"], f"{where}.expression", issues)
        return
    _check_path(rule.get("field"), f"{where}.field", issues)
    op = rule.get("op", "equals")
    if not isinstance(op, str) or op not in OPERATORS:
        issues.append(Issue(f"{where}.op", f"unknown operator {op!r}; one of {OPERATORS}"))
        return
    if op in _UNARY:
        return
    if "value" not in rule:
        issues.append(Issue(f"{where}.value", f"is required for operator {op!r}"))
        return
    value = rule["value"]
    literal = not (isinstance(value, str) and "{{" in value)
    if not literal:
        try:
            check(value)
        except TemplateError as exc:
            issues.append(Issue(f"{where}.value", str(exc)))
    elif op in _REGEX:
        if not isinstance(value, str):
            issues.append(Issue(f"{where}.value", "must be a regular expression string"))
        else:
            try:
                _pattern(value, bool(rule.get("ignore_case")))
            except regex.error as exc:
                issues.append(Issue(f"{where}.value", f"bad regular expression: {exc}"))
    elif op in _DATE and _instant(value) is None:
        issues.append(Issue(f"{where}.value", "must be an ISO-8601 date/time, epoch seconds "
                                              "or milliseconds, or \"now\""))


def _check_path(path: Any, where: str, issues: list[Issue]) -> None:
    if not isinstance(path, str) or not path:
        issues.append(Issue(where, "is required: a JMESPath path such as steps.lookup.status"))
        return
    try:
        compile_path(path)
    except TemplateError as exc:
        issues.append(Issue(where, str(exc)))


# ---------------------------------------------------------------- evaluation

def evaluate(rule: dict[str, Any], context: dict[str, Any]) -> bool:
    """True when the rule holds; a type mismatch counts as false, not an error."""
    return _eval(rule, context, _Notes())


def evaluate_noted(rule: dict[str, Any], context: dict[str, Any]) -> tuple[bool, list[str]]:
    """`evaluate`, plus notes on regex timeouts and unreadable dates."""
    notes = _Notes()
    return _eval(rule, context, notes), list(notes)


def _eval(rule: dict[str, Any], context: dict[str, Any], notes: list[str]) -> bool:
    if "all" in rule:
        return all(_eval(member, context, notes) for member in rule["all"])
    if "any" in rule:
        return any(_eval(member, context, notes) for member in rule["any"])
    if "not" in rule:
        return not _eval(rule["not"], context, notes)
    if "expression" in rule:
        return _jmespath_true(lookup(rule["expression"], context))
    actual = lookup(rule["field"], context)
    op = rule.get("op", "equals")
    if op in _UNARY:
        return bool(_UNARY[op](actual))
    expected = render(rule.get("value"), context)
    if op in _REGEX:
        found = _search(expected, actual, bool(rule.get("ignore_case")), rule, notes)
        return bool(found) if op == "regex" else found is False
    if op in _DATE:
        a, b = _instant(actual), _instant(expected)
        if a is None or b is None:
            if actual is not None:
                notes.append(f"{rule['field']}: {'value' if a else 'field'} is not a date")
            return False
        return bool(_DATE[op](a, b))
    try:
        return bool(_BINARY[op](actual, expected))
    except TypeError:
        return False


def _search(pattern: Any, actual: Any, ignore_case: bool, rule: dict[str, Any],
            notes: list[str]) -> bool | None:
    """True/False; None (noted) when the pattern timed out or is bad at run time."""
    if actual is None or isinstance(actual, dict | list):
        return False
    text = actual if isinstance(actual, str) else str(actual)
    timeout = REGEX_TIMEOUT_SECONDS
    if isinstance(notes, _Notes):
        now = time.monotonic()
        if notes.deadline is None:
            notes.deadline = now + REGEX_BUDGET_SECONDS
        timeout = min(timeout, notes.deadline - now)
        if timeout <= 0:
            notes.append(f"{rule['field']}: not matched, the condition's regexes used their "
                         f"{int(REGEX_BUDGET_SECONDS * 1000)} ms (counted as no match)")
            return None
    try:
        return _pattern(str(pattern), ignore_case).search(text, timeout=timeout) is not None
    except TimeoutError:
        notes.append(f"{rule['field']}: regex timed out after "
                     f"{int(REGEX_TIMEOUT_SECONDS * 1000)} ms (counted as no match)")
    except regex.error as exc:
        notes.append(f"{rule['field']}: bad regular expression: {exc}")
    return None


# ---------------------------------------------------------------- the step

def validate(config: dict[str, Any], where: str) -> list[Issue]:
    rule = {k: v for k, v in config.items() if k not in _BRANCHES}
    return validate_rule(rule, where)


def execute(config: dict[str, Any], context: dict[str, Any]) -> Any:
    matched, notes = evaluate_noted(config, context)
    output: dict[str, Any] = {"matched": matched, "branch": "then" if matched else "else"}
    if notes:
        output["notes"] = notes
    return output
