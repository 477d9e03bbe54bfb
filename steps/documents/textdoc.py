"""JSON and plain text."""

from __future__ import annotations

from typing import Any

import orjson

from steps.documents.shape import OUTPUT_BUDGET, DocumentError


def parse_json(text: str) -> dict[str, Any]:
    """{data, truncated}: a top-level array keeps the items that fit; anything else must fit."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DocumentError(f"invalid JSON: {exc}") from None
    size = len(orjson.dumps(data))
    if size <= OUTPUT_BUDGET:
        return {"data": data, "truncated": False}
    if not isinstance(data, list):
        raise DocumentError(f"the JSON document is {size} bytes; the cap is {OUTPUT_BUDGET} "
                            "(only a top-level array can be cut)")
    kept, used = [], 2
    for item in data:
        used += len(orjson.dumps(item)) + 1
        if used > OUTPUT_BUDGET:
            break
        kept.append(item)
    return {"data": kept, "truncated": True}


def cap_text(text: str, budget: int = OUTPUT_BUDGET) -> tuple[str, bool]:
    """The text cut to `budget` UTF-8 bytes (at a character boundary), and whether it was."""
    raw = text.encode()
    if len(raw) <= budget:
        return text, False
    return raw[:budget].decode(errors="ignore"), True
