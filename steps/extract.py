"""extract (reference 002): named, typed fields from a parsed document.

A pure step: it reads data already in the run (usually `{{steps.parse}}`), so it
runs in place in the run agent, with no dispatch hop. To keep that cheap and
bounded, paths are compiled once (cached), regexes share a 0.25 s budget (the
`regex` package's timeout) over at most 1 M characters, and a step names at most
100 fields.
"""

from __future__ import annotations

from typing import Any

from steps.base import Issue, StepFailed
from steps.documents.cast import TYPES, CastError, cast
from steps.documents.fields import (
    MAX_FIELDS,
    RegexClock,
    RegexTimeout,
    Spec,
    check_specs,
    run_regex,
    specs,
)
from steps.templates import TemplateError, check, compile_path, lookup, render

name = "extract"
kind = "pure"
TITLE = "Extract named, typed fields from a parsed document (JMESPath, regex, JSON Schema)"
CONFIG: dict[str, str] = {
    "source": "string: the document, a template (\"{{steps.parse}}\") or a path "
              "(steps.parse); paths and regexes read it",
    "fields": f"object: field name -> a JMESPath path, or {{path, regex, group, all, type, "
              f"required, default, format, items}}; at most {MAX_FIELDS}",
    "schema": "object: instead of fields, a JSON Schema: properties with type (and x-path, "
              "x-regex; the path defaults to the property name), required",
    "fields.*.type": f"string: one of {', '.join(TYPES)}; the value is cast to it",
    "fields.*.regex": "string: a pattern run on the text at path (or the document's text); "
                      "the value is group `group`, else a group named like the field, else "
                      "group 1, else the whole match",
    "fields.*.required": "boolean: a missing value fails the step (permanently)",
}
OUTPUT: dict[str, str] = {"<field>": "each named field, typed; null when absent and not "
                                     "required (or its default)"}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    if "schema_id" in config:
        return [Issue(f"{where}.schema_id", "stored extraction schemas are not supported; "
                                            "give the schema inline as schema")]
    issues: list[Issue] = []
    source = config.get("source")
    if not isinstance(source, str) or not source.strip():
        issues.append(Issue(f"{where}.source", "is required: the parsed document, e.g. "
                                               "\"{{steps.parse}}\" or steps.parse"))
    else:
        try:
            check(source) if "{{" in source else compile_path(source)
        except TemplateError as exc:
            issues.append(Issue(f"{where}.source", str(exc)))
    return issues + check_specs(config, where)


def _text_of(source: Any) -> str | None:
    """What a regex without a path reads: the source if text, else a document's text."""
    if isinstance(source, str):
        return source
    if isinstance(source, dict) and isinstance(source.get("text"), str):
        return source["text"]
    return None


def _value(spec: Spec, source: Any, clock: RegexClock) -> Any:
    value = lookup(spec.path, source) if spec.path is not None else source
    if spec.regex is None:
        return value
    text = _text_of(value) if spec.path is None else value
    if text is None:
        return None
    if not isinstance(text, str):
        if spec.path is not None and isinstance(text, int | float) and not isinstance(text, bool):
            text = str(text)
        else:
            raise StepFailed(f"field {spec.name!r}: the regex needs text, but "
                             f"{'path ' + spec.path if spec.path else 'the source'} is "
                             f"{type(text).__name__}")
    return run_regex(spec, text, clock)


def _typed(spec: Spec, value: Any) -> Any:
    if value is None or value == "" or value == []:
        if spec.required:
            where = f"path {spec.path}" if spec.path else "the source"
            how = f" with regex {spec.regex!r}" if spec.regex else ""
            raise StepFailed(f"field {spec.name!r} is required, but {where}{how} has no value")
        return spec.default
    if spec.type is None:
        return value
    try:
        if spec.all and spec.type != "array":  # regex all: each match gets the type
            return [cast(v, spec.type, fmt=spec.format) for v in value]
        return cast(value, spec.type, fmt=spec.format, items=spec.items)
    except CastError as exc:
        raise StepFailed(f"field {spec.name!r} should be {spec.type}: {exc}") from None


def execute(config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    raw = config["source"]
    source = render(raw, context) if "{{" in raw else lookup(raw, context)
    clock = RegexClock()
    out: dict[str, Any] = {}
    for spec in specs(config):
        try:
            out[spec.name] = _typed(spec, _value(spec, source, clock))
        except RegexTimeout as exc:
            raise StepFailed(str(exc)) from None
    return out
