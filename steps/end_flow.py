"""end_flow (003's end-flow): end the run successfully at once, with an optional result.

It runs in place like a pure step (kind "end" so the run agent knows to stop):
`config.result`, rendered against the run context, becomes the run's result;
without it the run's result is what it would have been (the workflow's
`output` template, else the last step's output).
"""

from __future__ import annotations

from typing import Any

from steps.base import Issue
from steps.templates import TemplateError, check, render

name = "end_flow"
ALIASES = ("end-flow",)
kind = "end"
TITLE = "End the run successfully now, optionally with a result built from a template"
CONFIG: dict[str, str] = {
    "result": "any (template): the run's result, rendered against the run context",
}
OUTPUT: dict[str, str] = {
    "result": "the rendered result (null without config.result)",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    try:
        check(config.get("result"))
    except TemplateError as exc:
        return [Issue(f"{where}.result", str(exc))]
    return []


def execute(config: dict[str, Any], context: dict[str, Any]) -> Any:
    return {"result": render(config.get("result"), context)}
