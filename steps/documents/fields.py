"""Field specs for `extract`: one normal form from `fields` or an inline JSON Schema.

A spec says where a value is (`path`, a JMESPath expression over the source, and/or
`regex` over text), what type it has, and whether the step fails without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

import regex

from steps.base import Issue
from steps.documents.cast import TYPES
from steps.templates import TemplateError, compile_path

MAX_FIELDS = 100
MAX_PATTERN_CHARS = 1000
MAX_TEXT_CHARS = 1_000_000  # regexes read at most this much text
MAX_MATCHES = 1000  # for all: true
REGEX_BUDGET_SECONDS = 0.25  # all of a step's regexes together (it runs in the run agent)
_KEYS = frozenset({"path", "regex", "group", "all", "type", "required", "default", "format",
                   "items", "description"})


class RegexTimeout(ValueError):
    """The step's regexes took longer than their budget."""


@dataclass(frozen=True)
class Spec:
    name: str
    path: str | None = None
    regex: str | None = None
    group: int | str | None = None
    all: bool = False
    type: str | None = None
    required: bool = False
    default: Any = None
    format: str | None = None
    items: str | None = None


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Any:
    return regex.compile(pattern)


def quoted(name: str) -> str:
    """A JMESPath identifier for any key ("unit price" -> "\\"unit price\\"")."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _schema_specs(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """JSON Schema properties as specs: `x-path`/`path` (default: the property name),
    `x-regex`/`regex`, `type` (a ["number", "null"] union reads as number), `format: date`."""
    required = set(schema.get("required") or [])
    out: dict[str, dict[str, Any]] = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        type_name = prop.get("type")
        if isinstance(type_name, list):
            type_name = next((t for t in type_name if t != "null"), None)
        if type_name == "string" and prop.get("format") == "date":
            type_name = "date"
        spec: dict[str, Any] = {"type": type_name, "required": name in required}
        path = prop.get("x-path", prop.get("path"))
        pattern = prop.get("x-regex", prop.get("regex"))
        if path is not None or pattern is None:
            spec["path"] = path if path is not None else quoted(str(name))
        if pattern is not None:
            spec["regex"] = pattern
        for key in ("default", "group"):
            if key in prop:
                spec[key] = prop[key]
        if prop.get("x-date-format"):
            spec["format"] = prop["x-date-format"]
        items = prop.get("items")
        if isinstance(items, dict) and isinstance(items.get("type"), str):
            spec["items"] = items["type"]
        out[str(name)] = spec
    return out


def raw_specs(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(config key the specs came from, name -> raw spec)."""
    if "schema" in config:
        schema = config["schema"]
        return "schema", _schema_specs(schema) if isinstance(schema, dict) else {}
    fields = config.get("fields")
    return "fields", fields if isinstance(fields, dict) else {}


def _check_spec(raw: Any, where: str) -> list[Issue]:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        return [Issue(where, "must be a path (JMESPath) or an object with path/regex/type")]
    issues = [Issue(f"{where}.{key}", "is not a field option") for key in raw if key not in _KEYS]
    path, pattern = raw.get("path"), raw.get("regex")
    if path is None and pattern is None:
        issues.append(Issue(f"{where}.path", "give path (JMESPath) and/or regex"))
    if path is not None:
        try:
            compile_path(path) if isinstance(path, str) else None
        except TemplateError as exc:
            issues.append(Issue(f"{where}.path", str(exc)))
        if not isinstance(path, str):
            issues.append(Issue(f"{where}.path", "must be a JMESPath expression"))
    if pattern is not None:
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
            issues.append(Issue(f"{where}.regex",
                                f"must be a pattern of at most {MAX_PATTERN_CHARS} characters"))
        else:
            try:
                compiled = compile_regex(pattern)
            except regex.error as exc:
                issues.append(Issue(f"{where}.regex", f"does not compile: {exc}"))
            else:
                group = raw.get("group")
                if isinstance(group, str) and group not in compiled.groupindex:
                    issues.append(Issue(f"{where}.group", f"the regex has no group {group!r}"))
                elif isinstance(group, int) and not isinstance(group, bool) and not (
                        0 <= group <= compiled.groups):
                    issues.append(Issue(f"{where}.group",
                                        f"the regex has {compiled.groups} groups"))
                elif group is not None and not isinstance(group, int | str):
                    issues.append(Issue(f"{where}.group", "must be a group name or number"))
    type_name = raw.get("type")
    if type_name is not None and type_name not in TYPES:
        issues.append(Issue(f"{where}.type", f"must be one of {', '.join(TYPES)}"))
    items = raw.get("items")
    if items is not None and items not in TYPES:
        issues.append(Issue(f"{where}.items", f"must be one of {', '.join(TYPES)}"))
    for key in ("required", "all"):
        if key in raw and not isinstance(raw[key], bool):
            issues.append(Issue(f"{where}.{key}", "must be true or false"))
    if "format" in raw and not isinstance(raw["format"], str):
        issues.append(Issue(f"{where}.format", "must be a strptime format such as %d/%m/%Y"))
    return issues


def check_specs(config: dict[str, Any], where: str) -> list[Issue]:
    has_fields, has_schema = "fields" in config, "schema" in config
    if has_fields == has_schema:
        return [Issue(f"{where}.fields", "give exactly one of fields (name -> path or spec) or "
                                         "schema (a JSON Schema with properties)")]
    key, specs = raw_specs(config)
    if has_schema and not isinstance(config["schema"], dict):
        return [Issue(f"{where}.schema", "must be a JSON Schema object with properties")]
    if not specs:
        return [Issue(f"{where}.{key}", "must name at least one field")]
    if len(specs) > MAX_FIELDS:
        return [Issue(f"{where}.{key}", f"at most {MAX_FIELDS} fields")]
    issues: list[Issue] = []
    for name, raw in specs.items():
        sub = f"{where}.schema.properties.{name}" if has_schema else f"{where}.fields.{name}"
        issues += _check_spec(raw, sub)
    return issues


def specs(config: dict[str, Any]) -> list[Spec]:
    """The checked config's specs in normal form."""
    _, raw = raw_specs(config)
    out = []
    for name, item in raw.items():
        item = {"path": item} if isinstance(item, str) else item
        out.append(Spec(name=name, **{k: v for k, v in item.items() if k != "description"}))
    return out


class RegexClock:
    """One time budget shared by a step's regexes."""

    def __init__(self, budget: float = REGEX_BUDGET_SECONDS) -> None:
        self.deadline = time.monotonic() + budget

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RegexTimeout(f"the regexes took longer than {REGEX_BUDGET_SECONDS:g}s")
        return left


def _group(match: Any, spec: Spec) -> Any:
    """The named `group`, else a group named like the field, else group 1, else the match."""
    compiled = match.re
    if spec.group is not None:
        return match.group(spec.group)
    if spec.name in compiled.groupindex:
        return match.group(spec.name)
    return match.group(1) if compiled.groups >= 1 else match.group(0)


def run_regex(spec: Spec, text: str, clock: RegexClock) -> Any:
    compiled = compile_regex(spec.regex or "")
    text = text[:MAX_TEXT_CHARS]
    try:
        if spec.all:
            matches = compiled.finditer(text, timeout=clock.remaining())
            return [_group(m, spec) for m in islice(matches, MAX_MATCHES)]
        match = compiled.search(text, timeout=clock.remaining())
    except TimeoutError:
        raise RegexTimeout(f"field {spec.name!r}: the regex took longer than its time budget "
                           f"({REGEX_BUDGET_SECONDS:g}s for the step)") from None
    return None if match is None else _group(match, spec)
