"""The built-in catalog of workflow templates (schemas/templates/*.json).

Templates ship with the code rather than living in the registry so every tenant sees
the same vetted set and a release can fix one everywhere. The files are read once per
process; callers get deep copies, so editing a returned definition never changes the
catalog for the next caller.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

CATEGORIES: tuple[str, ...] = ("lead_enrichment", "invoice", "contract", "resume", "alerting",
                               "general")
_FIELDS = ("id", "category", "name", "description", "definition")


class CatalogError(RuntimeError):
    """A shipped template file is malformed: a packaging bug, not a user error."""


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    """Every template by id, in CATEGORIES order then by id; checked as it is read."""
    found: dict[str, dict[str, Any]] = {}
    folder = resources.files(__package__ or "schemas").joinpath("templates")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        template = json.loads(entry.read_text(encoding="utf-8"))
        missing = [f for f in _FIELDS if f not in template]
        if missing:
            raise CatalogError(f"template {entry.name} lacks {', '.join(missing)}")
        if template["category"] not in CATEGORIES:
            raise CatalogError(f"template {entry.name}: unknown category "
                               f"{template['category']!r}")
        if template["id"] in found or f"{template['id']}.json" != entry.name:
            raise CatalogError(f"template {entry.name}: id {template['id']!r} must be unique "
                               "and match the file name")
        found[template["id"]] = template
    ordered = sorted(found.values(), key=lambda t: (CATEGORIES.index(t["category"]), t["id"]))
    return {t["id"]: t for t in ordered}


def _check_category(category: str | None) -> None:
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")


def _summary(template: dict[str, Any]) -> dict[str, Any]:
    definition = template["definition"]
    trigger = definition.get("trigger") or {}
    return {"id": template["id"], "category": template["category"], "name": template["name"],
            "description": template["description"],
            "stepCount": len(definition.get("steps") or []),
            "triggerType": trigger.get("type", "manual")}


def list_templates(category: str | None = None) -> list[dict[str, Any]]:
    """Summaries (no definitions), optionally of one category; ValueError for an unknown one."""
    _check_category(category)
    return [_summary(t) for t in _catalog().values()
            if category is None or t["category"] == category]


def get_template(template_id: str) -> dict[str, Any] | None:
    """The whole template (a copy), or None when no template has this id."""
    template = _catalog().get(template_id)
    return copy.deepcopy(template) if template is not None else None


def definition_from(template: dict[str, Any], overrides: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """A fresh workflow definition from a template; `name`/`description` replaced when given.

    The result still goes through steps.graph.validate_workflow like any other create body.
    """
    definition = copy.deepcopy(template["definition"])
    for key in ("name", "description"):
        value = (overrides or {}).get(key)
        if value is not None:
            definition[key] = value
    return definition
