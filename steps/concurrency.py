"""A workflow's per-key concurrency option: `concurrency: {key: "{{input.x}}", limit: 1}`.

Runs whose key renders to the same value wait their turn, in order (the gate,
streams/gate.py, enforces it); this module only checks the block at save and
renders a run's key from its input, so it knows nothing of Kafka.
"""

from __future__ import annotations

from typing import Any

from steps.base import Issue, scalar_text
from steps.templates import TemplateError, check, render_string

MAX_LIMIT = 100
MAX_KEY_CHARS = 200


def issues(block: Any) -> list[Issue]:
    """What is wrong with a definition's `concurrency` block (none when absent)."""
    if block is None:
        return []
    if not isinstance(block, dict):
        return [Issue("concurrency", "must be an object with key and limit")]
    found: list[Issue] = []
    unknown = sorted(set(block) - {"key", "limit"})
    if unknown:
        found.append(Issue(f"concurrency.{unknown[0]}", "unknown field (key, limit)"))
    key = block.get("key")
    if not isinstance(key, str) or not key.strip():
        found.append(Issue("concurrency.key", "is required: a template such as "
                                              "{{input.customer_id}}"))
    else:
        try:
            check(key)
        except TemplateError as exc:
            found.append(Issue("concurrency.key", str(exc)))
    limit = block.get("limit", 1)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        found.append(Issue("concurrency.limit", f"must be an integer from 1 to {MAX_LIMIT}"))
    return found


def key_of(block: dict[str, Any], run_input: dict[str, Any]) -> tuple[str, int]:
    """(key value, limit) of one run; a key that renders empty is the empty key (one queue)."""
    try:
        value = render_string(block["key"], {"input": run_input})
    except TemplateError:
        value = None
    text = scalar_text(value) if not isinstance(value, (dict, list)) else None
    return (text or "")[:MAX_KEY_CHARS], int(block.get("limit", 1))
