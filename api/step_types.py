"""`GET /api/workflows/step-types`: every step type with its config and output, from the registry.

Reference 004 numbers its actions (ActionType); the numbers come from the one
table api/aliases.py maps them with, so this list and the alias layer agree.
Action types whose step is not built yet are listed with `available: false`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import faust
from aiohttp import web

from api.aliases import ACTION_TYPES
from api.errors import json_errors
from api.requests import tenant_of
from api.responses import json_response
from steps import catalog, registry
from streams.engine import Engine


def action_types() -> list[dict[str, Any]]:
    """004's ActionType enum with the hopflow step each value runs as."""
    known = set(registry.known())
    return [{"value": value, "name": name, "stepType": step_type,
             **({"method": method} if method else {}), "available": step_type in known}
            for value, (name, step_type, method) in enumerate(ACTION_TYPES)]


@cache
def document() -> dict[str, Any]:
    """Built once: the registry does not change while a worker runs."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for action in action_types():
        by_type.setdefault(action["stepType"], []).append(
            {k: action[k] for k in ("value", "name", "method") if k in action})
    types = catalog.step_types(by_type)
    return {"data": types, "total": len(types), "actionTypes": action_types()}


def register(engine: Engine) -> None:
    @engine.app.page("/api/workflows/step-types")
    class StepTypes(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant_of(request)
            return json_response(document())
