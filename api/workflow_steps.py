"""Steps as sub-resources (reference 004): add, replace, move, delete one step.

Each change is an edit of the latest definition, validated whole and stored as
a new version; `base_version` makes the control agent refuse it (409) if
someone else changed the workflow in between, so no edit is lost silently.
"""

from __future__ import annotations

import copy
from typing import Any

import faust
import orjson
from aiohttp import web

from api.auth import require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.requests import read_json, tenant_of
from api.responses import json_response
from api.workflows import find_workflow, validated, version_of
from streams.engine import Engine

_STEP_FIELDS = ("id", "type", "name", "config", "next", "output_template")


def _step_body(body: Any) -> tuple[dict[str, Any], int | None]:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    order = body.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)
                              or order < 1):
        raise ApiError(400, "order must be a positive integer (1 = first step)", field="order")
    step = {k: body[k] for k in _STEP_FIELDS if k in body}
    if not isinstance(step.get("type"), str):
        raise ApiError(400, "type is required", field="type")
    step.setdefault("config", {})
    return step, order


def _latest(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(version_of(engine, tenant, head, "latest")["definition"])  # type: ignore[no-any-return]


async def _editable(engine: Engine, request: web.Request, workflow_id: str
                    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(head, a copy of the latest definition, its steps list) for an admin's edit."""
    require(request, "admin")
    tenant = tenant_of(request)
    head = await find_workflow(engine, tenant, workflow_id)
    definition = copy.deepcopy(_latest(engine, tenant, head))
    return head, definition, definition.setdefault("steps", [])


def _index(steps: list[dict[str, Any]], step_id: str) -> int:
    for i, step in enumerate(steps):
        if step.get("id") == step_id:
            return i
    raise ApiError(404, f"step {step_id!r} not found")


def _present(workflow_id: str, version: int, steps: list[dict[str, Any]], i: int
             ) -> dict[str, Any]:
    return {"workflowId": workflow_id, "version": version, "step": {**steps[i], "order": i + 1}}


async def _save(engine: Engine, request: web.Request, head: dict[str, Any],
                definition: dict[str, Any], step_id: str, action: str) -> int:
    principal = require(request, "admin")
    stored = validated(definition)
    result = await submit(engine, principal, "workflow.update", {
        "id": head["id"], "definition": stored, "base_version": head["latest"],
        "step": {"id": step_id, "action": action}})
    return int(result["version"])


async def add_step(engine: Engine, request: web.Request, workflow_id: str, body: Any
                   ) -> web.Response:
    """POST .../steps (also called by the 004 alias, api/aliases.py)."""
    head, definition, steps = await _editable(engine, request, workflow_id)
    step, order = _step_body(body)
    if "id" not in step:
        taken = {s.get("id") for s in steps}
        step["id"] = next(f"step{n}" for n in range(1, len(steps) + 2)
                          if f"step{n}" not in taken)
    elif any(s.get("id") == step["id"] for s in steps):
        raise ApiError(409, f"step {step['id']!r} already exists", field="id")
    at = len(steps) if order is None else min(order - 1, len(steps))
    steps.insert(at, step)
    version = await _save(engine, request, head, definition, step["id"], "added")
    return json_response(_present(workflow_id, version, steps, at), status=201)


async def replace_step(engine: Engine, request: web.Request, workflow_id: str, step_id: str,
                       body: Any) -> web.Response:
    """PUT .../steps/{step_id}: replace or move one step."""
    head, definition, steps = await _editable(engine, request, workflow_id)
    i = _index(steps, step_id)
    step, order = _step_body(body)
    if step.setdefault("id", step_id) != step_id:
        raise ApiError(400, "a step's id cannot change; delete and add it instead", field="id")
    steps.pop(i)
    at = i if order is None else min(order - 1, len(steps))
    steps.insert(at, step)
    version = await _save(engine, request, head, definition, step_id, "updated")
    return json_response(_present(workflow_id, version, steps, at))


async def delete_step(engine: Engine, request: web.Request, workflow_id: str, step_id: str
                      ) -> web.Response:
    """DELETE .../steps/{step_id} (edges to it go too)."""
    head, definition, steps = await _editable(engine, request, workflow_id)
    steps.pop(_index(steps, step_id))
    if "edges" in definition:
        definition["edges"] = [e for e in definition["edges"] if isinstance(e, dict)
                               and step_id not in (e.get("from"), e.get("to"))]
    version = await _save(engine, request, head, definition, step_id, "deleted")
    return json_response({"workflowId": workflow_id, "version": version,
                          "stepId": step_id, "deleted": True})


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows/{workflow_id}/steps")
    class Steps(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await find_workflow(engine, tenant, workflow_id)
            steps = _latest(engine, tenant, head).get("steps") or []
            return json_response({"workflowId": workflow_id, "version": head["latest"],
                                  "data": [{**s, "order": i + 1} for i, s in enumerate(steps)]})

        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            return await add_step(engine, request, workflow_id, await read_json(request))

    @app.page("/api/workflows/{workflow_id}/steps/{step_id}")
    class Step(faust.web.View):
        @json_errors
        async def put(self, request: web.Request, workflow_id: str, step_id: str
                      ) -> web.Response:
            return await replace_step(engine, request, workflow_id, step_id,
                                      await read_json(request))

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str, step_id: str
                         ) -> web.Response:
            return await delete_step(engine, request, workflow_id, step_id)
