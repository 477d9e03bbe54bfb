"""Secrets (reference 000): `POST|GET|DELETE /api/workflows/secrets`, names only ever listed.

The value is encrypted here, with the worker's keyring, before the command is
sent: Kafka, the registry and every replica only ever hold ciphertext. Steps
read a secret as `{{secrets.<name>}}`; the executor decrypts it (README:
Secrets and credentials).
"""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web

from api.auth import require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso
from api.requests import parse_json, read_body, read_json, tenant_of
from api.responses import json_response
from streams.control.secrets import NAME_RULE, valid_name
from streams.engine import Engine
from streams.keyring import NOT_CONFIGURED, Keyring

MAX_VALUE_BYTES = 64 * 1024


def present(row: dict[str, Any]) -> dict[str, Any]:
    """A secret as listed: never its value, nor its ciphertext."""
    return {"name": row["name"], "createdAt": iso(row["created_ms"]),
            "updatedAt": iso(row["updated_ms"]), "updatedBy": row["updated_by"]}


def keyring_of(engine: Engine) -> Keyring:
    """The worker's keyring, or 503: without a key nothing can be encrypted or read."""
    if not engine.keyring.configured:
        raise ApiError(503, f"secrets are unavailable: {NOT_CONFIGURED} on every worker")
    return engine.keyring


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "name is required", field="name")
    if not valid_name(value):
        raise ApiError(400, f"name must be {NAME_RULE}", field="name")
    return value


def _value(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "value is required and must be a string", field="value")
    if not value:
        raise ApiError(400, "value must not be empty", field="value")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise ApiError(400, f"value must be at most {MAX_VALUE_BYTES} bytes", field="value")
    return value


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows/secrets")
    class Secrets(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            require(request, "member")
            rows = sorted(engine.registry.entries("secret", tenant_of(request)).values(),
                          key=lambda r: r["name"])
            return json_response({"data": [present(r) for r in rows], "total": len(rows)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            body = await read_json(request)
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object", field="body")
            name, value = _name(body.get("name")), _value(body.get("value"))
            keyring = keyring_of(engine)
            result = await submit(engine, principal, "secret.put", {
                "name": name, "ciphertext": keyring.encrypt(value), "key_id": keyring.key_id})
            row = engine.registry.get("secret", principal.tenant, name)
            shown = present(row) if row else {"name": name}
            return json_response({**shown, "created": result["created"]},
                                 status=201 if result["created"] else 200)

        @json_errors
        async def delete(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            body = parse_json(await read_body(request), required=False)
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object", field="body")
            name = _name(body.get("name", request.query.get("name")))
            if engine.registry.get("secret", principal.tenant, name) is None:
                raise ApiError(404, f"secret {name!r} not found", field="name")
            await submit(engine, principal, "secret.delete", {"name": name})
            return json_response({"name": name, "deleted": True})
