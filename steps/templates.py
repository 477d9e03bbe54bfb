"""Sandboxed templates: `{{ path }}` placeholders resolved with JMESPath.

JMESPath is an expression language with no access to Python objects, so a
template can read the run context and nothing else. A string that is exactly
one placeholder keeps the value's type (`"{{input.count}}"` -> 3); placeholders
inside longer text are rendered as text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jmespath
import orjson
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

_PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")
MAX_RENDERED_CHARS = 1_000_000


class TemplateError(ValueError):
    """A placeholder that does not parse or cannot be rendered."""


@lru_cache(maxsize=4096)
def compile_path(expression: str) -> ParsedResult:
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise TemplateError(f"bad expression {expression!r}: {exc}") from exc


def lookup(expression: str, context: dict[str, Any]) -> Any:
    """Evaluate one path expression against the context (missing -> None)."""
    return compile_path(expression).search(context)


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def check(value: Any) -> None:
    """Raise TemplateError if any placeholder in value does not parse."""
    if isinstance(value, str):
        for expr in placeholders(value):
            compile_path(expr)
    elif isinstance(value, dict):
        for item in value.values():
            check(item)
    elif isinstance(value, list):
        for item in value:
            check(item)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def render_string(text: str, context: dict[str, Any]) -> Any:
    if "{{" not in text:
        return text
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole and "{{" not in whole.group(1):  # "{{a}} {{b}}" is text, not one expression
        return lookup(whole.group(1), context)
    rendered = _PLACEHOLDER.sub(lambda m: _as_text(lookup(m.group(1), context)), text)
    if len(rendered) > MAX_RENDERED_CHARS:
        raise TemplateError(f"rendered text longer than {MAX_RENDERED_CHARS} characters")
    return rendered


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every string inside value (dicts and lists walked recursively)."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value
