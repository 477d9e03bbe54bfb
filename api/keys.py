"""API keys over the API (owner only) and the tenant's plan and usage."""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web

from api.auth import ROLES, new_key, require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso
from api.requests import read_json, tenant_of
from api.responses import json_response
from schemas.plans import plan_named
from streams.engine import Engine


def present_key(row: dict[str, Any]) -> dict[str, Any]:
    return {"keyId": row["key_id"], "name": row["name"], "role": row["role"],
            "prefix": f"hf_{row['key_id']}_", "createdAt": iso(row["created_ms"]),
            "createdBy": row["created_by"], "revokedAt": iso(row["revoked_ms"]),
            "active": row["revoked_ms"] is None}


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/keys")
    class Keys(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = require(request, "owner").tenant
            rows = sorted(engine.registry.entries("apikey", tenant).values(),
                          key=lambda r: (r["created_ms"], r["key_id"]))
            return json_response({"data": [present_key(r) for r in rows], "total": len(rows)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "owner")
            body = await read_json(request, required=False)
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object", field="body")
            role = body.get("role", "member")
            if role not in ROLES:
                raise ApiError(400, f"role must be one of {', '.join(ROLES)}", field="role")
            name = body.get("name", "")
            if not isinstance(name, str) or len(name) > 100:
                raise ApiError(400, "name must be a string of at most 100 characters",
                               field="name")
            key_id, key, digest = new_key()
            await submit(engine, principal, "key.create",
                         {"key_id": key_id, "hash": digest, "role": role, "name": name})
            row = engine.registry.get("apikey", principal.tenant, key_id)
            return json_response({**present_key(row or {
                "key_id": key_id, "name": name, "role": role, "created_ms": None,
                "created_by": principal.actor, "revoked_ms": None}), "key": key}, status=201)

    @app.page("/api/keys/{key_id}")
    class Key(faust.web.View):
        @json_errors
        async def delete(self, request: web.Request, key_id: str) -> web.Response:
            principal = require(request, "owner")
            if engine.registry.get("apikey", principal.tenant, key_id) is None:
                raise ApiError(404, f"key {key_id!r} not found")
            await submit(engine, principal, "key.revoke", {"key_id": key_id})
            return json_response(present_key(
                engine.registry.get("apikey", principal.tenant, key_id) or {}))

    @app.page("/api/tenant")
    class Tenant(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            principal = require(request, "member")
            tenant = tenant_of(request)
            row = engine.registry.get("plan", tenant, "current")
            plan = plan_named(row["plan"] if row else engine.settings.default_plan)
            workflows = sum(1 for w in engine.registry.entries("workflow", tenant).values()
                            if w["status"] != "archived")
            return json_response({
                "tenant": tenant, "role": principal.role, "actor": principal.actor,
                "plan": plan.name, "limits": {
                    "workflows": plan.workflows, "stepsPerWorkflow": plan.steps_per_workflow,
                    "credentials": plan.credentials, "maxRetries": plan.max_retries,
                    "executionsPerMinute": plan.executions_per_minute,
                    "dailyRuns": plan.daily_runs},
                "usage": {"workflows": workflows,
                          "credentials": engine.registry.count("credential", tenant)}})
