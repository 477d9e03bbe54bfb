"""What each step type takes and gives, read from the step modules themselves.

One source for `GET /api/workflows/step-types`, `hopflow step-types` and the
README's step table (a test keeps the README equal to it), so the docs cannot
drift from the code. A module describes itself with `TITLE` (one line),
`CONFIG` (field -> "type: description") and `OUTPUT` (output key -> description);
reference 004's ActionType numbers come from the caller, who owns that mapping
(api/aliases.py ACTION_TYPES, the one table the 004 alias layer maps with).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from steps import registry


def _field(name: str, text: str) -> dict[str, Any]:
    kind, sep, description = text.partition(": ")
    if not sep:
        kind, description = "", text
    return {"name": name, "type": kind.strip(), "description": description.strip(),
            "required": "required" in kind}


def describe(module: ModuleType, action_types: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    config = getattr(module, "CONFIG", {})
    output = getattr(module, "OUTPUT", {})
    return {
        "type": module.name,
        "aliases": list(getattr(module, "ALIASES", ())),
        "kind": module.kind,
        "title": module.TITLE,
        "config": [_field(k, v) for k, v in config.items()],
        "output": [{"name": k, "description": v} for k, v in output.items()],
        "actionTypes": list(action_types),
    }


def step_types(action_types: dict[str, list[dict[str, Any]]] | None = None
               ) -> list[dict[str, Any]]:
    """Every registered step type, by name; `action_types` maps a type to its 004 numbers."""
    action_types = action_types or {}
    modules = {id(m): m for m in map(registry.get, registry.known())}  # aliases: one entry
    return [describe(m, action_types.get(m.name, ()))
            for m in sorted(modules.values(), key=lambda m: m.name)]


def markdown(types: list[dict[str, Any]]) -> str:
    """The README's table of step types (kept equal to the code by a test)."""
    lines = ["| type | kind | what it does | config | output | 004 ActionType |",
             "|---|---|---|---|---|---|"]
    for t in types:
        config = ", ".join(f"`{f['name']}`" for f in t["config"]) or "-"
        output = ", ".join(f"`{f['name']}`" for f in t["output"]) or "-"
        actions = ", ".join(f"{a['value']} {a['name']}" for a in t["actionTypes"]) or "-"
        names = " / ".join(f"`{n}`" for n in [t["type"], *t["aliases"]])
        lines.append(f"| {names} | {t['kind']} | {t['title']} | {config} | {output} | "
                     f"{actions} |")
    return "\n".join(lines) + "\n"
