"""transform: build a new object from templates over the run context."""

from __future__ import annotations

from typing import Any

from steps.base import Issue
from steps.templates import TemplateError, check, render

name = "transform"
kind = "pure"


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    fields = config.get("fields")
    if not isinstance(fields, dict):
        return [Issue(f"{where}.fields", "must be an object mapping output names to values")]
    try:
        check(fields)
    except TemplateError as exc:
        return [Issue(f"{where}.fields", str(exc))]
    return []


def execute(config: dict[str, Any], context: dict[str, Any]) -> Any:
    return render(config["fields"], context)
