"""Workflow definitions: create, list, get, update, delete."""

from __future__ import annotations

import re
import uuid
from typing import Any

import faust
from aiohttp import web

from api import presenters
from api.errors import ApiError, json_errors
from api.requests import query_int, read_json, tenant_of
from api.responses import json_response
from steps.graph import InvalidDefinition, validate_workflow
from streams import intake
from streams.engine import Engine
from streams.workflows import workflow_key

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WRITE_TIMEOUT = 10.0
READ_YOUR_WRITE_WAIT = 0.5  # replica lag is milliseconds; a 404 should not hang


def _validated(body: Any) -> dict[str, Any]:
    try:
        return validate_workflow(body)
    except InvalidDefinition as exc:
        raise ApiError(400, str(exc), issues=exc.issues) from exc


async def find_workflow(engine: Engine, tenant: str, workflow_id: str) -> dict[str, Any]:
    """The workflow, waiting briefly for one just written through another worker."""
    record = intake.get_workflow(engine, tenant, workflow_id)
    if record is None:
        key = workflow_key(tenant, workflow_id)
        await engine.replica.wait_for(lambda data: key in data, READ_YOUR_WRITE_WAIT)
        record = intake.get_workflow(engine, tenant, workflow_id)
    if record is None:
        raise ApiError(404, f"workflow {workflow_id!r} not found")
    return record


async def _write(engine: Engine, tenant: str, workflow_id: str, definition: dict[str, Any],
                 *, expect_exists: bool) -> dict[str, Any]:
    command_id = await intake.put_workflow(engine, tenant, workflow_id, definition,
                                           expect_exists=expect_exists)
    key = workflow_key(tenant, workflow_id)
    seen = await engine.replica.wait_for(
        lambda data: data.get(key, {}).get("command_id") == command_id, WRITE_TIMEOUT)
    if not seen:
        raise ApiError(504, "the write was accepted but is not visible yet; retry the GET")
    return engine.replica.data[key]


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows")
    class Workflows(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = tenant_of(request)
            page = query_int(request, "page", 1, 1, 1_000_000)
            limit = query_int(request, "limit", 20, 1, 100)
            items = intake.list_workflows(engine, tenant)
            chunk = items[(page - 1) * limit: page * limit]
            return json_response({"data": [presenters.workflow(w) for w in chunk],
                                  "page": page, "limit": limit, "total": len(items)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            tenant = tenant_of(request)
            body = await read_json(request)
            definition = _validated(body)
            workflow_id = body.get("id") if isinstance(body, dict) else None
            if workflow_id is None:
                workflow_id = f"wf_{uuid.uuid4().hex[:16]}"
            elif not isinstance(workflow_id, str) or not _ID.match(workflow_id):
                raise ApiError(400, "id must be 1-64 letters, digits, _ . -", field="id")
            if intake.get_workflow(engine, tenant, workflow_id) is not None:
                raise ApiError(409, f"workflow {workflow_id!r} already exists", field="id")
            record = await _write(engine, tenant, workflow_id, definition, expect_exists=False)
            return json_response(presenters.workflow(record), status=201)

    @app.page("/api/workflows/{workflow_id}")
    class Workflow(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            record = await find_workflow(engine, tenant_of(request), workflow_id)
            return json_response(presenters.workflow(record))

        @json_errors
        async def put(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            await find_workflow(engine, tenant, workflow_id)
            definition = _validated(await read_json(request))
            record = await _write(engine, tenant, workflow_id, definition, expect_exists=True)
            return json_response(presenters.workflow(record))

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            await find_workflow(engine, tenant, workflow_id)
            await intake.delete_workflow(engine, tenant, workflow_id)
            key = workflow_key(tenant, workflow_id)
            await engine.replica.wait_for(lambda data: key not in data, WRITE_TIMEOUT)
            return json_response({"id": workflow_id, "deleted": True})
