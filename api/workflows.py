"""Workflows: create, list, get (any version), update, publish, archive, clone, delete, steps.

Reads come from this worker's registry replica; writes are commands to the
control agent (api/commands.py), which numbers versions and counts plan caps.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import faust
import orjson
from aiohttp import web

from api import presenters
from api.auth import require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.requests import pagination, query_bool, query_choices, read_json, tenant_of
from api.responses import json_response
from api.store import read
from history import queries
from schemas import input_schema, template_catalog
from steps.graph import InvalidDefinition, validate_workflow
from streams import intake
from streams.control.workflows import ARCHIVED, STATUSES
from streams.engine import Engine
from streams.metrics import RUNS_REFUSED
from streams.triggers import launch

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
READ_YOUR_WRITE_WAIT = 2.0  # at most, for a replica catching up on a write made elsewhere
# 000 filters by active/paused too: enabled or not, among the workflows not archived
_LIST_STATUSES = (*STATUSES, "active", "paused")


def validated(body: Any) -> dict[str, Any]:
    """The definition to store, or a 400 naming every bad field."""
    try:
        definition = validate_workflow(body)
    except InvalidDefinition as exc:
        raise ApiError(400, str(exc), issues=exc.issues) from exc
    for key in ("inputSchema", "payload"):
        if key in body:
            problems = input_schema.check_schema(body[key], key)
            if problems:
                field, message = problems[0]
                raise ApiError(400, f"{field}: {message}", field=field)
            definition[key] = body[key]
    return definition


async def find_workflow(engine: Engine, tenant: str, workflow_id: str) -> dict[str, Any]:
    """The workflow's head row, waiting briefly for one just written through another worker."""
    head = intake.workflow_head(engine, tenant, workflow_id)
    if head is None:  # maybe just written through another worker: catch up, then look again
        await engine.registry.sync(READ_YOUR_WRITE_WAIT)
        head = intake.workflow_head(engine, tenant, workflow_id)
    if head is None:
        raise ApiError(404, f"workflow {workflow_id!r} not found")
    return head


def version_of(engine: Engine, tenant: str, head: dict[str, Any], selector: str | None
               ) -> dict[str, Any]:
    """latest (default), published, or a version number."""
    if selector in (None, "", "latest"):
        number = head["latest"]
    elif selector == "published":
        if head["published"] is None:
            raise ApiError(404, f"workflow {head['id']!r} has no published version",
                           field="version")
        number = head["published"]
    else:
        try:
            number = int(selector)  # type: ignore[arg-type]
        except ValueError:
            raise ApiError(400, "version must be latest, published or a version number",
                           field="version") from None
    version = intake.workflow_version(engine, tenant, head["id"], number)
    if version is None:
        raise ApiError(404, f"workflow {head['id']!r} has no version {number}", field="version")
    return version


def runnable(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    """What a new run starts on: the published version, else the latest (409 if it may not run)."""
    try:
        return launch.target(engine, tenant, head)
    except launch.Refused as exc:
        raise refused_error(exc) from None


def refused_error(exc: launch.Refused) -> ApiError:
    """A trigger's refusal as the HTTP answer (a limit's 429 with its Retry-After).

    Counted here (hopflow_runs_refused_total{reason}): every HTTP trigger's refusal passes
    through this one place, as every Kafka trigger's passes through its agent's count.
    """
    RUNS_REFUSED.labels(exc.reason).inc()
    return ApiError(exc.status, exc.message, field=exc.field, retry_after=exc.retry_after)


async def admitted(engine: Engine, tenant: str, run_id: str) -> None:
    """The plan's run limits, as launch() applies them to every other trigger (429 if over)."""
    try:
        await launch.admit(engine, tenant, run_id)
    except launch.Refused as exc:
        raise refused_error(exc) from None


def _listed(engine: Engine, request: web.Request, tenant: str) -> tuple[list[Any], int]:
    statuses = query_choices(request, "status", _LIST_STATUSES)
    search = (request.query.get("search") or "").strip().lower()
    include_archived = query_bool(request, "includeArchived") or ARCHIVED in statuses
    heads = engine.registry.entries("workflow", tenant).values()
    found = []
    for head in heads:
        if head["status"] == ARCHIVED and not include_archived:
            continue
        if statuses and not any(_status_matches(head, s) for s in statuses):
            continue
        if search and search not in head["name"].lower() and \
                search not in (head.get("description") or "").lower():
            continue
        found.append(head)
    found.sort(key=lambda h: (h["created_ms"], h["id"]))
    return found, len(found)


def _status_matches(head: dict[str, Any], wanted: str) -> bool:
    if wanted == "active":
        return head["enabled"] and head["status"] != ARCHIVED
    if wanted == "paused":
        return not head["enabled"] and head["status"] != ARCHIVED
    return head["status"] == wanted  # type: ignore[no-any-return]


def present(engine: Engine, tenant: str, head: dict[str, Any],
            selector: str | None = None) -> dict[str, Any]:
    return presenters.workflow(head, version_of(engine, tenant, head, selector))


def _new_id(body: dict[str, Any]) -> str:
    workflow_id = body.get("id")
    if workflow_id is None:
        return f"wf_{uuid.uuid4().hex[:16]}"
    if not isinstance(workflow_id, str) or not _ID.match(workflow_id):
        raise ApiError(400, "id must be 1-64 letters, digits, _ . -", field="id")
    return workflow_id


def _enabled(body: dict[str, Any]) -> bool | None:
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be true or false", field="enabled")
    return enabled


def _reference_shapes(body: dict[str, Any]) -> dict[str, Any]:
    """002's definition / trigger_type / trigger_config body, as the canonical one."""
    from api.aliases import normalize_body

    return normalize_body(body)


async def create(engine: Engine, request: web.Request, body: Any, *,
                 how: str = "created", source: str | None = None) -> web.Response:
    principal = require(request, "admin")
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    body = _reference_shapes(body)
    template_id = body.get("template_id")
    template = None
    if template_id is not None:
        template = template_catalog.get_template(template_id) \
            if isinstance(template_id, str) else None
        if template is None:
            raise ApiError(400, f"no template {template_id!r}", field="template_id")
        body = {**template_catalog.definition_from(template, {
            k: body[k] for k in ("name", "description") if body.get(k)}),
            **{k: body[k] for k in ("id", "enabled") if k in body}}
    definition = validated(body)
    workflow_id = _new_id(body)
    result = await submit(engine, principal, "workflow.create", {
        "id": workflow_id, "definition": definition, "enabled": _enabled(body),
        "how": how, "source": source, "template": template_id})
    head = await find_workflow(engine, principal.tenant, result["id"])
    return json_response(present(engine, principal.tenant, head), status=201)


async def update(engine: Engine, request: web.Request, workflow_id: str, body: Any
                 ) -> web.Response:
    principal = require(request, "admin")
    await find_workflow(engine, principal.tenant, workflow_id)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    body = _reference_shapes(body)
    status = body.get("status")
    if status is not None and not isinstance(status, str):
        raise ApiError(400, "status must be a string", field="status")
    payload: dict[str, Any] = {"id": workflow_id, "enabled": _enabled(body), "status": status}
    if set(body) - {"enabled", "status"}:  # more than a toggle: the definition changes
        payload["definition"] = validated(body)
    await submit(engine, principal, "workflow.update", payload)
    head = await find_workflow(engine, principal.tenant, workflow_id)
    return json_response(present(engine, principal.tenant, head))


async def workflow_op(engine: Engine, request: web.Request, workflow_id: str, op: str,
                      role: str, **payload: Any) -> dict[str, Any]:
    """One lifecycle op (workflow.archive, .unarchive, .publish, .delete) by a caller of `role`."""
    principal = require(request, role)
    await find_workflow(engine, principal.tenant, workflow_id)
    return await submit(engine, principal, op, {"id": workflow_id, **payload})


def register(engine: Engine) -> None:
    app = engine.app

    async def simple_op(request: web.Request, workflow_id: str, op: str, role: str,
                        **payload: Any) -> dict[str, Any]:
        return await workflow_op(engine, request, workflow_id, op, role, **payload)

    async def op_then_present(request: web.Request, workflow_id: str, op: str
                              ) -> web.Response:
        await simple_op(request, workflow_id, op, "admin")
        head = await find_workflow(engine, tenant_of(request), workflow_id)
        return json_response(present(engine, tenant_of(request), head))

    @app.page("/api/workflows")
    class Workflows(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = tenant_of(request)
            page, limit, offset = pagination(request)
            found, total = _listed(engine, request, tenant)
            data = [present(engine, tenant, h) for h in found[offset:offset + limit]]
            return json_response({
                "data": data, "workflows": data,  # workflows: reference 002's list shape
                "page": page, "limit": limit, "offset": offset, "total": total,
                "hasMore": offset + limit < total})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            return await create(engine, request, await read_json(request))

    @app.page("/api/workflows/{workflow_id}")
    class Workflow(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await find_workflow(engine, tenant, workflow_id)
            return json_response(present(engine, tenant, head, request.query.get("version")))

        @json_errors
        async def put(self, request: web.Request, workflow_id: str) -> web.Response:
            return await update(engine, request, workflow_id, await read_json(request))

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str) -> web.Response:
            """Archive (soft delete, reference 003); `.../permanent` removes it."""
            return await op_then_present(request, workflow_id, "workflow.archive")

    @app.page("/api/workflows/{workflow_id}/versions")
    class Versions(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await find_workflow(engine, tenant, workflow_id)
            page, limit, offset = pagination(request, default_limit=50)
            numbers = list(range(head["latest"], 0, -1))  # newest first
            rows = []
            for n in numbers[offset:offset + limit]:
                version = intake.workflow_version(engine, tenant, workflow_id, n)
                if version is not None:
                    rows.append(presenters.version(head, version))
            return json_response({"workflowId": workflow_id, "data": rows, "page": page,
                                  "limit": limit, "offset": offset, "total": len(numbers),
                                  "latest": head["latest"], "published": head["published"]})

    @app.page("/api/workflows/{workflow_id}/audit")
    class Audit(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            await find_workflow(engine, tenant, workflow_id)
            page, limit, offset = pagination(request, default_limit=50)
            rows, total, more = await read(engine, lambda tx: queries.list_audit(
                tx, tenant, workflow_id, limit, offset))
            return json_response({"workflowId": workflow_id, "data": [
                {"action": r["action"], "actor": r["actor"], "version": r["version"],
                 "at": presenters.iso(r["ts_ms"]), "detail": r["detail"], "id": r["id"]}
                for r in rows], "page": page, "limit": limit, "offset": offset,
                "total": total, "hasMore": more})

    @app.page("/api/workflows/{workflow_id}/publish")
    class Publish(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await find_workflow(engine, tenant, workflow_id)
            body = await read_json(request, required=False)
            raw = body.get("version") if isinstance(body, dict) else None
            number = _version_number(raw, head["latest"])
            await simple_op(request, workflow_id, "workflow.publish", "admin", version=number)
            head = await find_workflow(engine, tenant, workflow_id)
            return json_response(present(engine, tenant, head, "published"))

    @app.page("/api/workflows/{workflow_id}/unarchive")
    class Unarchive(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            return await op_then_present(request, workflow_id, "workflow.unarchive")

    @app.page("/api/workflows/{workflow_id}/permanent")
    class Permanent(faust.web.View):
        @json_errors
        async def delete(self, request: web.Request, workflow_id: str) -> web.Response:
            await simple_op(request, workflow_id, "workflow.delete", "owner")
            return json_response({"id": workflow_id, "deleted": True})

    @app.page("/api/workflows/{workflow_id}/clone")
    class Clone(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            head = await find_workflow(engine, tenant, workflow_id)
            source = version_of(engine, tenant, head, "latest")
            definition = orjson.loads(source["definition"])
            definition["name"] = f"{definition.get('name', '')} (Copy)"[:250]
            body = await read_json(request, required=False)
            if isinstance(body, dict) and "id" in body:
                definition["id"] = body["id"]
            return await create(engine, request, definition, how="cloned", source=workflow_id)


def _version_number(raw: Any, latest: int) -> int:
    """003 publishes "1.0.0"-style strings; hopflow numbers versions 1, 2, 3."""
    if raw is None:
        return latest
    if isinstance(raw, bool):
        raise ApiError(400, "version must be a version number", field="version")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.isdigit():
            return int(text)
        major = text.split(".")[0]
        if major.isdigit() and all(p == "0" for p in text.split(".")[1:]):
            return int(major)
    raise ApiError(400, "version must be a version number (or N.0.0)", field="version")

