"""Sandboxed templates: `{{ path }}` placeholders resolved with JMESPath.

JMESPath is an expression language with no access to Python objects, so a
template can read the run context and nothing else. A string that is exactly
one placeholder keeps the value's type (`"{{input.count}}"` -> 3); placeholders
inside longer text are rendered as text.

Secrets are decrypted only where a step executes, so the run agent renders
I/O step configs with `keep_secrets=True`: each `{{secrets...}}` placeholder is
kept, fenced by NUL characters, and NULs are stripped from every substituted
value. Only placeholders written in the definition itself can thus reach the
executor's `fill_secrets`; an input value "{{secrets.x}}" stays plain text.

Text with loops and conditionals: a string containing `{%` or `{#` is a Jinja
template (steps/text_template.py, sandboxed, same context and fences); every
other string keeps the fast placeholder path above, unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jmespath
import orjson
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from steps.base import Issue, scalar_text
from steps.text_template import (
    FENCE,  # around a kept {{secrets...}} placeholder (never left in substituted data)
    MAX_RENDERED_CHARS,
    MAX_TEMPLATE_BYTES,
    TemplateError,
    compile_text,
    is_jinja,
    render_text,
)

_PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")
_FENCED = re.compile(r"\x00\{\{(.+?)\}\}\x00")
_SECRET_NAME = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")


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
    """Raise TemplateError if any template in value does not compile or is over 64 KB."""
    if isinstance(value, str):
        if is_jinja(value):
            compile_text(value)
            return
        if "{{" in value and len(value.encode()) > MAX_TEMPLATE_BYTES:
            raise TemplateError(f"template larger than {MAX_TEMPLATE_BYTES // 1024} KB")
        for expr in placeholders(value):
            compile_path(expr)
    elif isinstance(value, dict):
        for item in value.values():
            check(item)
    elif isinstance(value, list):
        for item in value:
            check(item)


def template_issues(value: Any, where: str) -> list[Issue]:
    """`check` as a validation issue at `where` (what every step's validate needs)."""
    try:
        check(value)
    except TemplateError as exc:
        return [Issue(where, str(exc))]
    return []


def _as_text(value: Any) -> str:
    text = scalar_text(value)
    return orjson.dumps(value).decode() if text is None else text


def is_secret_expression(expression: str) -> bool:
    return expression.startswith("secrets.")


def _fence(expression: str) -> str:
    return f"{FENCE}{{{{{expression}}}}}{FENCE}"


def _scrub(value: Any) -> Any:
    """`value` without NUL characters, so no substituted data can forge a fence."""
    if isinstance(value, str):
        return value.replace(FENCE, "\ufffd") if FENCE in value else value
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _scrubbed(value: Any) -> Any:
    """`_scrub`, after a C-speed look for a NUL (there almost never is one)."""
    if isinstance(value, dict | list):
        try:
            if b"\\u0000" not in orjson.dumps(value):
                return value
        except orjson.JSONEncodeError:
            pass
    return _scrub(value)


def _substitute(match: re.Match[str], context: dict[str, Any], keep_secrets: bool) -> str:
    expression = match.group(1)
    if not keep_secrets:
        return _as_text(lookup(expression, context))
    if is_secret_expression(expression):
        return _fence(expression)
    return _as_text(lookup(expression, context)).replace(FENCE, "\ufffd")


def render_string(text: str, context: dict[str, Any], *, keep_secrets: bool = False) -> Any:
    if "{" not in text:
        return text
    if "{%" in text or "{#" in text:
        return render_text(text, context, keep_secrets=keep_secrets)
    if "{{" not in text:
        return text
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole and "{{" not in whole.group(1):  # "{{a}} {{b}}" is text, not one expression
        if not keep_secrets:
            return lookup(whole.group(1), context)
        if is_secret_expression(whole.group(1)):
            return _fence(whole.group(1))
        return _scrubbed(lookup(whole.group(1), context))
    rendered = _PLACEHOLDER.sub(lambda m: _substitute(m, context, keep_secrets), text)
    if len(rendered) > MAX_RENDERED_CHARS:
        raise TemplateError(f"rendered text longer than {MAX_RENDERED_CHARS} characters")
    return rendered


def render(value: Any, context: dict[str, Any], *, keep_secrets: bool = False) -> Any:
    """Render every string inside value (dicts and lists walked recursively).

    With `keep_secrets`, `{{secrets...}}` placeholders are kept (fenced) for the
    step executor to fill; see the module docstring.
    """
    if isinstance(value, str):
        return render_string(value, context, keep_secrets=keep_secrets)
    if isinstance(value, dict):
        return {k: render(v, context, keep_secrets=keep_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, keep_secrets=keep_secrets) for v in value]
    return value


def has_secrets(value: Any) -> bool:
    """True if a kept `{{secrets...}}` placeholder is anywhere in value."""
    if isinstance(value, str):
        return FENCE in value
    if isinstance(value, dict):
        return any(has_secrets(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secrets(v) for v in value)
    return False


def secret_names(value: Any) -> set[str]:
    """Names of the secrets the kept placeholders in value read."""
    found: set[str] = set()
    if isinstance(value, str):
        for match in _FENCED.finditer(value):
            found.update(_SECRET_NAME.findall(match.group(1)))
    elif isinstance(value, dict):
        for item in value.values():
            found |= secret_names(item)
    elif isinstance(value, list):
        for item in value:
            found |= secret_names(item)
    return found


def fill_secrets(value: Any, secrets: dict[str, str]) -> Any:
    """Replace the kept placeholders with the secrets' values (where the step executes)."""
    if isinstance(value, str):
        if FENCE not in value:
            return value
        context = {"secrets": secrets}
        whole = _FENCED.fullmatch(value)
        if whole:
            return lookup(whole.group(1), context)
        return _FENCED.sub(lambda m: _as_text(lookup(m.group(1), context)), value)
    if isinstance(value, dict):
        return {k: fill_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_secrets(v, secrets) for v in value]
    return value
