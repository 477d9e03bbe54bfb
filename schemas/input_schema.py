"""A workflow's declared input: checked when the workflow is saved, enforced when a run starts.

Two shapes are accepted: `inputSchema`, a small JSON Schema subset, and reference 003's
`payload` map (`{field: {"type", "description"}}`), which converts to the same schema.
The subset is closed: an unknown keyword is an error, so a typo such as `minLenght` is
reported instead of silently checking nothing, and no `$ref` can make the validator
fetch anything. Validators are compiled once per schema text (fastjsonschema generates
and execs Python code, which is far slower than running it on the run-start path).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import fastjsonschema
import orjson

TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
FORMATS = ("email", "date", "date-time", "uri", "uuid", "ipv4", "ipv6")
KEYWORDS = ("type", "title", "description", "enum", "format", "items", "properties", "required",
            "additionalProperties", "minLength", "maxLength", "minimum", "maximum", "pattern")
MAX_DEPTH = 8
MAX_PROPERTIES = 200
# Dots and brackets would make `input.a.b` ambiguous; the rest keeps JMESPath paths plain.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# Pinned so a fastjsonschema upgrade cannot change which draft (and formats) apply.
_DRAFT = "http://json-schema.org/draft-07/schema#"
_EXTRA_FORMATS = {"uuid": r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                          r"[0-9A-Fa-f]{12}\Z"}
_FOR_TYPE = {
    "format": "string", "pattern": "string", "minLength": "string", "maxLength": "string",
    "minimum": "number", "maximum": "number",
    "items": "array",
    "properties": "object", "required": "object", "additionalProperties": "object",
}
_FORMAT_TEXT = {
    "email": "an email address", "date": "a date (YYYY-MM-DD)",
    "date-time": "a date-time with offset (e.g. 2024-01-31T09:00:00Z)", "uri": "a URI",
    "uuid": "a UUID", "ipv4": "an IPv4 address", "ipv6": "an IPv6 address",
}

Issues = list[tuple[str, str]]
Validator = Callable[[Any], Any]


class InputInvalid(ValueError):
    """Run input that does not match the workflow's schema; `field` is e.g. `input.email`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _types(node: dict[str, Any]) -> list[str]:
    declared = node.get("type")
    return [declared] if isinstance(declared, str) else list(declared or [])


def _is_type(value: Any, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "object": dict, "array": list,
                              "null": type(None)}[type_name])


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_type(node: dict[str, Any], path: str, issues: Issues) -> list[str]:
    declared = node.get("type")
    if declared is None:
        issues.append((f"{path}.type", f"is required: one of {', '.join(TYPES)}"))
        return []
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
        issues.append((f"{path}.type", "must be a type name or a list of distinct type names"))
        return []
    bad = [t for t in names if t not in TYPES]
    if bad:
        issues.append((f"{path}.type", f"unsupported type {bad[0]!r}; one of {', '.join(TYPES)}"))
        return []
    return names


def _check_keywords(node: dict[str, Any], types: list[str], path: str, issues: Issues) -> None:
    for key, wants in _FOR_TYPE.items():
        if key in node and types and not (
                wants in types or (wants == "number" and "integer" in types)):
            issues.append((f"{path}.{key}", f"applies to type {wants!r} only"))
    for key in ("title", "description"):
        if key in node and not isinstance(node[key], str):
            issues.append((f"{path}.{key}", "must be a string"))
    if "enum" in node:
        enum = node["enum"]
        if not isinstance(enum, list) or not enum:
            issues.append((f"{path}.enum", "must be a non-empty array"))
        elif types and (odd := [v for v in enum if not any(_is_type(v, t) for t in types)]):
            issues.append((f"{path}.enum", f"value {odd[0]!r} is not of type {'/'.join(types)}"))
    if "format" in node and node["format"] not in FORMATS:
        issues.append((f"{path}.format",
                       f"unsupported format {node['format']!r}; one of {', '.join(FORMATS)}"))
    for key in ("minLength", "maxLength"):
        if key in node and not _count(node[key]):
            issues.append((f"{path}.{key}", "must be a non-negative integer"))
    for key in ("minimum", "maximum"):
        if key in node and not _number(node[key]):
            issues.append((f"{path}.{key}", "must be a number"))
    for low, high in (("minLength", "maxLength"), ("minimum", "maximum")):
        if _number(node.get(low)) and _number(node.get(high)) and node[low] > node[high]:
            issues.append((f"{path}.{low}", f"is greater than {high}"))
    if "pattern" in node:
        pattern = node["pattern"]
        if not isinstance(pattern, str) or len(pattern) > 1000:
            issues.append((f"{path}.pattern", "must be a regular expression string (max 1000)"))
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                issues.append((f"{path}.pattern", f"is not a valid regular expression: {exc}"))


def _check_object(node: dict[str, Any], path: str, depth: int, budget: list[int],
                  issues: Issues) -> None:
    properties = node.get("properties", {})
    if not isinstance(properties, dict):
        issues.append((f"{path}.properties", "must be an object of property schemas"))
        properties = {}
    for name, spec in properties.items():
        where = f"{path}.properties.{name}"
        budget[0] -= 1
        if budget[0] < 0:
            issues.append((path, f"at most {MAX_PROPERTIES} properties in one schema"))
            return
        if not _NAME.match(name):
            issues.append((where, "property names use letters, digits, _ and - (max 64), "
                                  "starting with a letter or _"))
            continue
        _check_node(spec, where, depth + 1, budget, issues)
    if "required" in node:
        required = node["required"]
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required) or (
                len(set(required)) != len(required)):
            issues.append((f"{path}.required", "must be an array of distinct property names"))
        else:
            missing = [r for r in required if r not in properties]
            if missing:
                issues.append((f"{path}.required", f"names no declared property {missing[0]!r}"))
    extra = node.get("additionalProperties", True)
    if isinstance(extra, dict):
        _check_node(extra, f"{path}.additionalProperties", depth + 1, budget, issues)
    elif not isinstance(extra, bool):
        issues.append((f"{path}.additionalProperties", "must be a boolean or a schema"))


def _check_node(node: Any, path: str, depth: int, budget: list[int], issues: Issues,
                allowed: tuple[str, ...] = KEYWORDS) -> None:
    if not isinstance(node, dict):
        issues.append((path, "must be a schema object"))
        return
    if depth > MAX_DEPTH:
        issues.append((path, f"nested deeper than {MAX_DEPTH} levels"))
        return
    for key in node:
        if key not in allowed:
            issues.append((f"{path}.{key}",
                           f"unsupported keyword; supported: {', '.join(KEYWORDS)}"))
    types = _check_type(node, path, issues)
    _check_keywords(node, types, path, issues)
    if "items" in node:
        _check_node(node["items"], f"{path}.items", depth + 1, budget, issues)
    if "object" in types:
        _check_object(node, path, depth, budget, issues)


def payload_to_schema(payload: dict[str, Any]) -> dict[str, Any]:
    """Reference 003's `{field: spec}` map as an object schema; `"required": true` marks a field."""
    properties = {name: {k: v for k, v in spec.items() if k != "required"}
                  for name, spec in payload.items()}
    schema: dict[str, Any] = {"type": "object", "properties": copy.deepcopy(properties)}
    required = [name for name, spec in payload.items() if spec.get("required") is True]
    if required:
        schema["required"] = required
    return schema


def _check_payload(raw: Any, field: str, issues: Issues) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        issues.append((field, "must be an object of {field: {type, description}}"))
        return None
    if len(raw) > MAX_PROPERTIES:
        issues.append((field, f"at most {MAX_PROPERTIES} fields"))
        return None
    budget = [MAX_PROPERTIES]
    for name, spec in raw.items():
        where = f"{field}.{name}"
        if not _NAME.match(name):
            issues.append((where, "field names use letters, digits, _ and - (max 64), "
                                  "starting with a letter or _"))
        elif not isinstance(spec, dict):
            issues.append((where, "must be an object with a type"))
        else:
            if "required" in spec and not isinstance(spec["required"], bool):
                issues.append((f"{where}.required", "must be true or false"))
            rest = {k: v for k, v in spec.items() if k != "required"}
            _check_node(rest, where, 1, budget, issues)
    return None if issues else payload_to_schema(raw)


def check_schema(raw: Any, field: str = "inputSchema") -> Issues:
    """Problems with a declared schema, each `(path, message)`; [] when it is usable.

    `field` names where it sits in the definition; a field named `payload` is read as
    reference 003's map, anything else as an `inputSchema` object.
    """
    issues: Issues = []
    if field.rsplit(".", 1)[-1] == "payload":
        schema = _check_payload(raw, field, issues)
    else:
        _check_node(raw, field, 0, [MAX_PROPERTIES], issues, allowed=(*KEYWORDS, "$schema"))
        if isinstance(raw, dict) and raw.get("type", "object") != "object" and not any(
                path == f"{field}.type" for path, _ in issues):
            issues.append((f"{field}.type", "must be 'object': a run's input is an object"))
        schema = None if issues else _strip(raw)
    if schema is not None:
        try:
            compiled(canonical(schema))
        except (fastjsonschema.JsonSchemaDefinitionException, re.error) as exc:
            issues.append((field, f"does not compile: {exc}"))
    return issues


def check_definition(definition: dict[str, Any]) -> Issues:
    """check_schema on whichever shape the definition declares (not both)."""
    if "inputSchema" in definition and "payload" in definition:
        return [("payload", "declare either inputSchema or payload, not both")]
    if "inputSchema" in definition:
        return check_schema(definition["inputSchema"], "inputSchema")
    if "payload" in definition:
        return check_schema(definition["payload"], "payload")
    return []


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in schema.items() if k != "$schema"}


def normalize(definition: dict[str, Any]) -> dict[str, Any] | None:
    """The effective JSON schema of a (checked) definition, or None when it declares none.

    An empty `payload` ({}), as reference 003's create body carries by default, declares none.
    """
    schema = definition.get("inputSchema")
    if isinstance(schema, dict):
        return _strip(schema)
    payload = definition.get("payload")
    if isinstance(payload, dict) and payload:
        return payload_to_schema(payload)
    return None


def canonical(schema: dict[str, Any]) -> str:
    """One text per schema (sorted keys), so equal schemas share one compiled validator."""
    return orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()


@lru_cache(maxsize=512)
def compiled(schema_json: str) -> Validator:
    """The validator for a canonical schema text, compiled once."""
    definition = {**orjson.loads(schema_json), "$schema": _DRAFT}
    return fastjsonschema.compile(definition, formats=_EXTRA_FORMATS, use_default=False)


def _field(name: str | None) -> str:
    name = name or "data"
    return "input" + name[4:] if name.startswith("data") else f"input.{name}"


def _explain(exc: fastjsonschema.JsonSchemaValueException) -> InputInvalid:
    where = _field(exc.name)
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [r for r in definition.get("required", []) if r not in exc.value]
        if missing:
            return InputInvalid(f"{where}.{missing[0]}", "is required")
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict):
        extra = sorted(set(exc.value) - set(definition.get("properties", {})))
        if extra:
            return InputInvalid(f"{where}.{extra[0]}", "is not an expected field")
    if exc.rule == "format":
        fmt = definition.get("format")
        return InputInvalid(where, f"must be {_FORMAT_TEXT.get(fmt, fmt)}")
    message = exc.message
    prefix = f"{exc.name} "
    return InputInvalid(where, message[len(prefix):] if message.startswith(prefix) else message)


def validate_input(schema: dict[str, Any], data: Any) -> None:
    """Raise InputInvalid naming the first offending field of a run's input."""
    validator = compiled(canonical(schema))
    try:
        validator(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _explain(exc) from None


def metadata(workflow_id: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Reference 003's "Get Workflow Input Schema" body, plus the full schema."""
    payload: dict[str, Any] = {}
    if schema:
        required = set(schema.get("required", []))
        for name, spec in (schema.get("properties") or {}).items():
            entry: dict[str, Any] = {"type": spec.get("type"),
                                     "description": spec.get("description", "")}
            if name in required:
                entry["required"] = True
            for key in ("enum", "format"):
                if key in spec:
                    entry[key] = copy.deepcopy(spec[key])
            payload[name] = entry
    return {"success": True, "data": {"workflowId": workflow_id, "payload": payload,
                                      "schema": copy.deepcopy(schema)}}
