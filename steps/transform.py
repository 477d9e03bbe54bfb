"""transform: build a new object from the run context, then reshape it with ops in order.

Config: `source` (a JMESPath path to start from, e.g. "input" or
"steps.fetch.body"), `fields` (a templated object merged over it; alone it
is today's transform), and `ops`, applied in order:
map, rename, pick, omit, default, cast, template (see OPS).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from steps.base import Issue, StepFailed
from steps.templates import TemplateError, check, compile_path, lookup, render
from steps.text_template import compile_text, render_text

name = "transform"
kind = "pure"

TITLE = "Build an object from the run context and reshape it (map, rename, pick, cast...)"
CONFIG = {
    "source": "string: JMESPath path of the value to start from (default: an empty object)",
    "fields": "object: templated fields merged over the source",
    "ops": "array: operations applied in order: map, rename, pick, omit, default, cast, "
           "template",
}
OUTPUT = {"*": "the object (or list) the fields and ops produce"}

CAST_TYPES = ("int", "float", "str", "bool", "json", "date")
_TRUE = ("true", "yes", "y", "1", "on")
_FALSE = ("false", "no", "n", "0", "off", "")
MAX_OPS = 100


# ---------------------------------------------------------------- validation

def _name(op: dict[str, Any], key: str, where: str, issues: list[Issue]) -> None:
    if not isinstance(op.get(key), str) or not op[key]:
        issues.append(Issue(f"{where}.{key}", "is required: a field name"))


def _names(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    names = op.get("fields")
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n for n in names):
        issues.append(Issue(f"{where}.fields", "must be a non-empty array of field names"))


def _path(op: dict[str, Any], key: str, where: str, issues: list[Issue],
          required: bool = True) -> None:
    value = op.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        issues.append(Issue(f"{where}.{key}", "is required: a JMESPath expression"))
        return
    try:
        compile_path(value)
    except TemplateError as exc:
        issues.append(Issue(f"{where}.{key}", str(exc)))


def _check_map(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _path(op, "expression", where, issues)
    if "field" in op:
        _name(op, "field", where, issues)


def _check_rename(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _name(op, "from", where, issues)
    _name(op, "to", where, issues)


def _check_default(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    if not isinstance(op.get("values"), dict) or not op["values"]:
        issues.append(Issue(f"{where}.values", "must be an object of field -> default value"))


def _check_cast(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _name(op, "field", where, issues)
    if op.get("to") not in CAST_TYPES:
        issues.append(Issue(f"{where}.to", f"must be one of {', '.join(CAST_TYPES)}"))


def _check_template(op: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _name(op, "field", where, issues)
    if not isinstance(op.get("template"), str):
        issues.append(Issue(f"{where}.template", "is required: Jinja template text"))
        return
    try:
        compile_text(op["template"])
    except TemplateError as exc:
        issues.append(Issue(f"{where}.template", str(exc)))


_CHECKS = {"map": _check_map, "rename": _check_rename, "pick": lambda o, w, i: _names(o, w, i),
           "omit": lambda o, w, i: _names(o, w, i), "default": _check_default,
           "cast": _check_cast, "template": _check_template}
OPS = sorted(_CHECKS)


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues: list[Issue] = []
    fields, ops = config.get("fields"), config.get("ops")
    if "source" in config:
        _path(config, "source", where, issues)
    if fields is None and ops is None and "source" not in config:
        return [Issue(f"{where}.fields", "must be an object mapping output names to values "
                                         "(or give source and/or ops)")]
    if fields is not None:
        if not isinstance(fields, dict):
            issues.append(Issue(f"{where}.fields", "must be an object mapping output names "
                                                   "to values"))
        else:
            try:
                check(fields)
            except TemplateError as exc:
                issues.append(Issue(f"{where}.fields", str(exc)))
    if ops is None:
        return issues
    if not isinstance(ops, list) or len(ops) > MAX_OPS:
        return [*issues, Issue(f"{where}.ops", f"must be an array of at most {MAX_OPS} ops")]
    for i, op in enumerate(ops):
        at = f"{where}.ops[{i}]"
        if not isinstance(op, dict) or op.get("op") not in _CHECKS:
            issues.append(Issue(f"{at}.op", f"must be one of {', '.join(OPS)}"))
            continue
        _CHECKS[op["op"]](op, at, issues)
    return issues


# ---------------------------------------------------------------- execution

def _object(value: Any, op: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StepFailed(f"{op} needs an object, got {type(value).__name__}")
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = 0.5
        if number.is_integer():
            return int(number)
    raise ValueError("not an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError("not a number") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("not a boolean (true/false, yes/no, 1/0)")


def _to_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # already structured
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None


def _to_date(value: Any) -> str:
    """ISO-8601 in UTC, from ISO text or epoch seconds/milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 100_000_000_000 else value
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(
            UTC).isoformat()
    raise ValueError("not a date")


def _to_str(value: Any) -> str:
    """As a `{{path}}` placeholder prints it: JSON for objects, true/false, "" for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


_CASTS = {"int": _to_int, "float": _to_float, "str": _to_str, "bool": _to_bool,
          "json": _to_json, "date": _to_date}


def _apply(op: dict[str, Any], value: Any, context: dict[str, Any]) -> Any:
    kind_ = op["op"]
    if kind_ == "map":
        expression = compile_path(op["expression"])
        field = op.get("field")
        items = value if field is None else _object(value, "map").get(field)
        if items is None:
            return value
        if not isinstance(items, list):
            raise StepFailed(f"map over {field or 'the value'}: not a list")
        mapped = [expression.search(item) for item in items]
        return mapped if field is None else {**value, field: mapped}
    obj = _object(value, kind_)
    if kind_ == "rename":
        if op["from"] not in obj:
            return obj
        return {(op["to"] if k == op["from"] else k): v for k, v in obj.items()}
    if kind_ == "pick":
        return {k: obj[k] for k in op["fields"] if k in obj}
    if kind_ == "omit":
        return {k: v for k, v in obj.items() if k not in op["fields"]}
    if kind_ == "default":
        return {**obj, **{k: d for k, d in op["values"].items() if obj.get(k) is None}}
    if kind_ == "cast":
        field = op["field"]
        if field not in obj or (obj[field] is None and op["to"] != "str"):
            return obj
        try:
            cast = _CASTS[op["to"]](obj[field])
        except (ValueError, TypeError, OverflowError) as exc:
            raise StepFailed(f"cannot cast {field} ({obj[field]!r:.60}) to {op['to']}: {exc}"
                             ) from None
        return {**obj, field: cast}
    # template: Jinja text over the run context plus the object so far (`value`)
    return {**obj, op["field"]: render_text(op["template"], {**context, "value": obj})}


def execute(config: dict[str, Any], context: dict[str, Any]) -> Any:
    value: Any = lookup(config["source"], context) if "source" in config else None
    if "fields" in config:
        fields = render(config["fields"], context)
        value = fields if value is None else {**_object(value, "fields"), **fields}
    if value is None:
        value = {}
    for op in config.get("ops") or ():
        value = _apply(op, value, context)
    return value
