"""Redaction of secret values from whatever leaves a step: request, output, error text, logs.

A secret may leave in other spellings than its own: URL-encoded in a query string, JSON-escaped
in an error body, base64-encoded in an HTTP Basic header. Each spelling is masked. Overlapping
matches are merged, so no tail of a secret stays visible next to a mask.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "••••••"

_BASIC = re.compile(r"\bBasic\s+([A-Za-z0-9+/_-]+={0,2})", re.IGNORECASE)


def _secret_list(secrets: Iterable[str]) -> list[str]:
    """Distinct non-empty secrets, longest first."""
    unique = {s for s in secrets if isinstance(s, str) and s}
    return sorted(unique, key=len, reverse=True)


def _spellings(secrets: list[str]) -> list[str]:
    """Every form a secret is looked for in, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        forms.add(secret)
        forms.add(quote(secret, safe=""))
        forms.add(quote_plus(secret, safe=""))
        forms.add(json.dumps(secret)[1:-1])
        forms.add(base64.b64encode(secret.encode()).decode())
    return sorted(forms, key=len, reverse=True)


def _decode_b64(text: str) -> str | None:
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        return raw.decode("utf-8", errors="replace")
    return None


def _mask_text(text: str, secrets: list[str], forms: list[str]) -> str:
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    for match in _BASIC.finditer(text):
        decoded = _decode_b64(match.group(1))
        if decoded is not None and any(secret in decoded for secret in secrets):
            spans.append(match.span(1))
    if not spans:
        return text
    spans.sort()
    merged = [list(spans[0])]
    for start, stop in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    parts: list[str] = []
    cursor = 0
    for start, stop in merged:
        parts.append(text[cursor:start])
        parts.append(MASK)
        cursor = stop
    parts.append(text[cursor:])
    return "".join(parts)


def _walk(value: Any, secrets: list[str], forms: list[str]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, secrets, forms)
    if isinstance(value, dict):
        return {_walk(k, secrets, forms): _walk(v, secrets, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item, secrets, forms) for item in value]
    if isinstance(value, tuple):
        return tuple(_walk(item, secrets, forms) for item in value)
    return value


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every secret masked, in strings, dict keys and values, lists and tuples.

    Without secrets, `value` itself is returned (no copy), so callers can redact everything.
    """
    secret_list = _secret_list(secrets)
    if not secret_list:
        return value
    return _walk(value, secret_list, _spellings(secret_list))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret masked."""
    secret_list = _secret_list(secrets)
    if not secret_list:
        return text
    return _mask_text(text, secret_list, _spellings(secret_list))
