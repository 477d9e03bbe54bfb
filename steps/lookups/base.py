"""What every lookup shares: where its input comes from, its envelope, its credits.

Input: `config.value` (usually a template such as `"{{input.email}}"`, rendered
by the run agent before dispatch) or `config.field`, a JMESPath path into the
run context (`input.email`, `steps.s1.company`) that the run agent resolves into
`value` (streams/machine.py `_dispatch`), so `execute` only ever reads `value`.

Output: one dict per lookup type with every key always present (null when not
known), plus `valid`, `reason` (why not valid, else null) and `credits`: 1 for
a lookup of valid input, 0 for input that is not what the lookup expects.
Invalid input is an answer, not a step failure.
"""

from __future__ import annotations

from typing import Any

from steps.base import Issue, Outcome
from steps.templates import TemplateError, check, compile_path

MAX_INPUT_CHARS = 2048
CREDIT_PER_LOOKUP = 1
CONFIG: dict[str, str] = {
    "value": "string: the text to look up, usually a template such as {{input.email}}",
    "field": "string: or a path into the run context, e.g. input.email, steps.s1.company",
}

def validate_input(config: dict[str, Any], where: str) -> list[Issue]:
    """Exactly one of `value` (text or a template) and `field` (a path) names the input."""
    has_value, has_field = "value" in config, "field" in config
    if has_value == has_field:
        return [Issue(f"{where}.value", "give exactly one of value (e.g. \"{{input.email}}\") "
                                        "or field (a path such as input.email)")]
    if has_field:
        field = config["field"]
        if not isinstance(field, str) or not field.strip():
            return [Issue(f"{where}.field", "must be a path such as input.email")]
        if "{{" in field or "}}" in field:
            return [Issue(f"{where}.field", "is a path, not a template: write input.email, "
                                            "or use value: \"{{input.email}}\"")]
        try:
            compile_path(field)
        except TemplateError as exc:
            return [Issue(f"{where}.field", str(exc))]
        return []
    value = config["value"]
    if not isinstance(value, str) or not value.strip():
        return [Issue(f"{where}.value", "must be non-empty text or a template such as "
                                        "\"{{input.email}}\"")]
    try:
        check(value)
    except TemplateError as exc:
        return [Issue(f"{where}.value", str(exc))]
    return []


def input_text(config: dict[str, Any]) -> tuple[str | None, str | None]:
    """The rendered input as stripped text, or (None, reason) when there is none to look up."""
    value = config.get("value")
    if value is None or value == "":
        return None, "no input: the value is empty or the field is missing from the run"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"input must be text, not {type(value).__name__}"
    text = str(value).strip()
    if not text:
        return None, "no input: the value is blank"
    if len(text) > MAX_INPUT_CHARS:
        return None, f"input longer than {MAX_INPUT_CHARS} characters"
    return text, None


def answer(shape: dict[str, Any], value: Any, *, reason: str | None = None,
           **fields: Any) -> Outcome:
    """The lookup's output: `shape` (all keys, null) filled with `fields`; credits by validity."""
    valid = reason is None
    credits = CREDIT_PER_LOOKUP if valid else 0
    output = {**dict.fromkeys(shape), "input": value, **fields, "valid": valid,
              "reason": reason, "credits": credits}
    return Outcome(output=output, credits=credits)
