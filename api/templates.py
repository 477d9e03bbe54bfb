"""Workflow templates (a built-in catalog) and a workflow's declared input (reference 003)."""

from __future__ import annotations

import faust
import orjson
from aiohttp import web

from api import workflows
from api.errors import ApiError, json_errors
from api.requests import read_json, tenant_of
from api.responses import json_response
from schemas import input_schema, template_catalog
from streams.engine import Engine


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows/templates")
    class Templates(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant_of(request)
            category = request.query.get("category") or None
            try:
                found = template_catalog.list_templates(category)
            except ValueError as exc:
                raise ApiError(400, str(exc), field="category") from exc
            return json_response({"data": found, "total": len(found),
                                  "categories": list(template_catalog.CATEGORIES)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            """Create a workflow from a template (reference 002): same as create + template_id."""
            body = await read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("template_id"), str):
                raise ApiError(400, "template_id is required", field="template_id")
            return await workflows.create(engine, request, body)

    @app.page("/api/workflows/templates/{template_id}")
    class Template(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, template_id: str) -> web.Response:
            tenant_of(request)
            template = template_catalog.get_template(template_id)
            if template is None:
                raise ApiError(404, f"template {template_id!r} not found")
            return json_response(template)

    @app.page("/api/workflow/metadata/input/{workflow_id}")
    class InputMetadata(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await workflows.find_workflow(engine, tenant, workflow_id)
            version = workflows.version_of(engine, tenant, head, request.query.get("version"))
            schema = input_schema.normalize(orjson.loads(version["definition"]))
            return json_response(input_schema.metadata(workflow_id, schema))
