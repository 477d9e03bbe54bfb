"""Integrations (reference 002): `/api/workflows/integrations` CRUD, secrets never shown.

002's shapes: create with `{workflow_id?, name, integration_type, config}`;
`PUT|DELETE /api/workflows/integrations?id=...`; list filtered by
`workflow_id`. hopflow also serves `/api/workflows/integrations/{id}`. A
config's secret fields (chat webhook URLs, webhook headers) are encrypted
here, as one ciphertext, before the command is sent, and shown as `••••••`;
an update that resends the mask (or omits a secret) keeps the stored value.
Admins write, members read; rows are the tenant's (registry kind
`integration`, written by streams/control/integrations.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import faust
import orjson
from aiohttp import web

from api.auth import Principal, require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso
from api.requests import pagination, read_json
from api.responses import json_response
from api.secrets import keyring_of
from schemas.credentials import MASK
from steps.base import Issue
from steps.integrations.specs import SECRET_FIELDS, TYPES, IntegrationInvalid, split
from streams.control.integrations import MAX_NAME
from streams.engine import Engine
from streams.keyring import KeyringError

PATH = "/api/workflows/integrations"


def present(row: dict[str, Any]) -> dict[str, Any]:
    config = dict(row["public"])
    config.update({name: MASK for name in row["secret_names"]})
    return {"id": row["id"], "name": row["name"], "integration_type": row["type"],
            "workflow_id": row.get("workflow_id"), "config": config,
            "created_at": iso(row["created_ms"]), "updated_at": iso(row["updated_ms"])}


def find(engine: Engine, tenant: str, integration_id: str | None) -> dict[str, Any]:
    if not integration_id:
        raise ApiError(400, "id is required (?id=...)", field="id")
    row = engine.registry.get("integration", tenant, integration_id)
    if row is None:
        raise ApiError(404, f"integration {integration_id!r} not found")
    return row


def listed(engine: Engine, request: web.Request, tenant: str) -> dict[str, Any]:
    page, limit, offset = pagination(request)
    workflow_id = request.query.get("workflow_id")
    rows = sorted(engine.registry.entries("integration", tenant).values(),
                  key=lambda r: (r["created_ms"], r["id"]))
    if workflow_id:
        rows = [r for r in rows if r.get("workflow_id") == workflow_id]
    shown = [present(r) for r in rows[offset:offset + limit]]
    return {"data": shown, "integrations": shown, "total": len(rows), "page": page,
            "limit": limit, "offset": offset, "hasMore": offset + len(shown) < len(rows)}


def _invalid(exc: IntegrationInvalid) -> ApiError:
    issues = [Issue(path, message) for path, message in exc.issues]
    return ApiError(400, str(exc), field=issues[0].field, issues=issues)


def _stored_secrets(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    if not row["secret_names"]:
        return {}
    try:
        secret = orjson.loads(keyring_of(engine).decrypt(row["ciphertext"]))
    except (KeyringError, orjson.JSONDecodeError):
        raise ApiError(503, "the stored secrets of this integration cannot be decrypted "
                            "with the configured keys; send them again") from None
    return secret if isinstance(secret, dict) else {}


def _command(engine: Engine, body: Any, row: dict[str, Any] | None) -> dict[str, Any]:
    """The command fields of a create (row None) or an update: checked, secrets sealed."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    name = body.get("name", row["name"] if row else None)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ApiError(400, f"name is required (1-{MAX_NAME} characters)", field="name")
    itype = body.get("integration_type", body.get("type", row["type"] if row else None))
    if itype not in TYPES:
        raise ApiError(400, f"integration_type must be one of {', '.join(TYPES)}",
                       field="integration_type")
    workflow_id = body.get("workflow_id", row.get("workflow_id") if row else None)
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise ApiError(400, "workflow_id must be a string", field="workflow_id")
    config = body.get("config")
    if config is None and row is not None and itype == row["type"]:
        config = {**row["public"], **{n: MASK for n in row["secret_names"]}}
    if not isinstance(config, dict):
        raise ApiError(400, "config is required (an object)", field="config")
    if row is not None and itype == row["type"]:  # a masked or absent secret keeps its value
        stored = _stored_secrets(engine, row)
        for key in SECRET_FIELDS[itype]:
            if config.get(key, MASK) == MASK and key in stored:
                config = {**config, key: stored[key]}
    if any(v == MASK for v in config.values()):
        raise ApiError(400, "a masked secret has no stored value; send the secret itself",
                       field="config")
    try:
        public, secret = split(itype, config)
    except IntegrationInvalid as exc:
        raise _invalid(exc) from None
    keyring = keyring_of(engine)
    return {"name": name, "type": itype, "workflow_id": workflow_id, "public": public,
            "secret_names": sorted(secret),
            "ciphertext": keyring.encrypt(orjson.dumps(secret).decode()),
            "key_id": keyring.key_id}


async def create(engine: Engine, principal: Principal, body: Any) -> dict[str, Any]:
    fields = _command(engine, body, None)
    integration_id = f"int_{uuid.uuid4().hex[:16]}"
    await submit(engine, principal, "integration.create", {"id": integration_id, **fields})
    return present(find(engine, principal.tenant, integration_id))


async def update(engine: Engine, principal: Principal, integration_id: str | None, body: Any
                 ) -> dict[str, Any]:
    row = find(engine, principal.tenant, integration_id)
    fields = _command(engine, body, row)
    await submit(engine, principal, "integration.update", {
        "id": row["id"], "base_updated_ms": row["updated_ms"], **fields})
    return present(find(engine, principal.tenant, row["id"]))


async def remove(engine: Engine, principal: Principal, integration_id: str | None
                 ) -> dict[str, Any]:
    row = find(engine, principal.tenant, integration_id)
    await submit(engine, principal, "integration.delete", {"id": row["id"]})
    return {"id": row["id"], "deleted": True}


def register(engine: Engine) -> None:
    app = engine.app

    @app.page(PATH)
    class Integrations(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            principal = require(request, "member")
            if request.query.get("id"):
                return json_response(present(find(engine, principal.tenant,
                                                  request.query["id"])))
            return json_response(listed(engine, request, principal.tenant))

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            return json_response(await create(engine, principal, await read_json(request)),
                                 status=201)

        @json_errors
        async def put(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            return json_response(await update(engine, principal, request.query.get("id"),
                                              await read_json(request)))

        @json_errors
        async def delete(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            return json_response(await remove(engine, principal, request.query.get("id")))

    @app.page(PATH + "/{integration_id}")
    class Integration(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, integration_id: str) -> web.Response:
            principal = require(request, "member")
            return json_response(present(find(engine, principal.tenant, integration_id)))

        @json_errors
        async def put(self, request: web.Request, integration_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await update(engine, principal, integration_id,
                                              await read_json(request)))

        @json_errors
        async def delete(self, request: web.Request, integration_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await remove(engine, principal, integration_id))
