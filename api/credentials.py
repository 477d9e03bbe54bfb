"""Typed credentials (reference 004): `/api/workflows/credentials[/{id}]` and 004's v4 alias.

Secret fields are encrypted here, as one ciphertext of their JSON, before the
command is sent; answers show them as `••••••` (schemas/credentials.py). An
update decrypts the stored secrets only to keep those the caller did not
resend. The v4 views translate 004's PascalCase bodies onto the same handler
functions (`create`, `update`, ...) and reshape their answers: no logic twice.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import faust
import orjson
from aiohttp import web

from api.auth import Principal, require
from api.commands import submit
from api.errors import ApiError, json_errors, renamed_fields
from api.presenters import iso
from api.requests import read_json
from api.responses import json_response
from api.secrets import keyring_of
from schemas.credentials import (
    CredentialInvalid,
    CredentialType,
    masked,
    resolve_type,
    validate,
)
from steps.base import Issue
from streams.control.credentials import MAX_NAME
from streams.engine import Engine
from streams.keyring import KeyringError

CANONICAL = "/api/workflows/credentials"
V4 = "/api/v4/workflows/credentials"


# ---------------------------------------------------------------- canonical handlers

def present(row: dict[str, Any]) -> dict[str, Any]:
    ctype = resolve_type(row["type"])
    return {"id": row["id"], "name": row["name"], "type": ctype.canonical,
            "typeId": int(ctype), "data": masked(ctype, row["public"], row["secret_names"]),
            "createdAt": iso(row["created_ms"]), "updatedAt": iso(row["updated_ms"])}


def find(engine: Engine, tenant: str, credential_id: str) -> dict[str, Any]:
    row = engine.registry.get("credential", tenant, credential_id)
    if row is None:
        raise ApiError(404, f"credential {credential_id!r} not found")
    return row


def listed(engine: Engine, tenant: str) -> list[dict[str, Any]]:
    rows = engine.registry.entries("credential", tenant).values()
    return [present(r) for r in sorted(rows, key=lambda r: (r["created_ms"], r["id"]))]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    return body


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "name is required", field="name")
    if len(value) > MAX_NAME:
        raise ApiError(400, f"name must be at most {MAX_NAME} characters", field="name")
    return value


def _type(value: Any) -> CredentialType:
    if value is None:
        raise ApiError(400, "type is required (a name such as http_bearer, or 0-13)",
                       field="type")
    try:
        return resolve_type(value)
    except CredentialInvalid as exc:
        raise _invalid(exc) from None


def _invalid(exc: CredentialInvalid) -> ApiError:
    issues = [Issue(path, message) for path, message in exc.issues]
    return ApiError(400, "; ".join(f"{i.field}: {i.message}" for i in issues), issues=issues)


def _validated(ctype: CredentialType, data: Any, existing: dict[str, str] | None
               ) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        return validate(ctype, data, existing_secrets=existing)
    except CredentialInvalid as exc:
        raise _invalid(exc) from None


def _sealed(engine: Engine, public: dict[str, Any], secret: dict[str, str]) -> dict[str, Any]:
    """The command fields for validated data: public as is, secrets as one ciphertext."""
    keyring = keyring_of(engine)
    return {"public": public, "secret_names": sorted(secret),
            "ciphertext": keyring.encrypt(orjson.dumps(secret).decode()),
            "key_id": keyring.key_id}


def _stored_secrets(engine: Engine, row: dict[str, Any]) -> dict[str, str]:
    try:
        secret = orjson.loads(keyring_of(engine).decrypt(row["ciphertext"]))
    except (KeyringError, orjson.JSONDecodeError):
        raise ApiError(503, "the stored secrets of this credential cannot be decrypted with "
                            "the configured keys; send every secret field again") from None
    return secret if isinstance(secret, dict) else {}


async def create(engine: Engine, principal: Principal, body: Any) -> dict[str, Any]:
    body = _object(body)
    name, ctype = _name(body.get("name")), _type(body.get("type"))
    if body.get("data") is None:
        raise ApiError(400, "data is required", field="data")
    public, secret = _validated(ctype, body["data"], None)
    credential_id = f"cred_{uuid.uuid4().hex[:16]}"
    await submit(engine, principal, "credential.create", {
        "id": credential_id, "name": name, "type": ctype.canonical,
        **_sealed(engine, public, secret)})
    return present(find(engine, principal.tenant, credential_id))


async def update(engine: Engine, principal: Principal, credential_id: str, body: Any
                 ) -> dict[str, Any]:
    """Name, type and data each optional; secrets not resent (or sent masked) are kept."""
    body = _object(body)
    row = find(engine, principal.tenant, credential_id)
    name = _name(body["name"]) if body.get("name") is not None else row["name"]
    ctype = _type(body["type"]) if body.get("type") is not None else resolve_type(row["type"])
    same_type = ctype.canonical == row["type"]
    data = body.get("data")
    if data is None:
        if not same_type:
            raise ApiError(400, "data is required when the type changes", field="data")
        sealed = {k: row.get(k) for k in ("public", "secret_names", "ciphertext", "key_id")}
    else:
        existing = _stored_secrets(engine, row) if same_type and row["secret_names"] else None
        sealed = _sealed(engine, *_validated(ctype, data, existing))
    await submit(engine, principal, "credential.update", {
        "id": credential_id, "name": name, "type": ctype.canonical,
        "base_updated_ms": row["updated_ms"], **sealed})
    return present(find(engine, principal.tenant, credential_id))


async def remove(engine: Engine, principal: Principal, credential_id: str) -> dict[str, Any]:
    find(engine, principal.tenant, credential_id)
    await submit(engine, principal, "credential.delete", {"id": credential_id})
    return {"id": credential_id, "deleted": True}


# ---------------------------------------------------------------- 004's shapes

def _snake(key: str) -> str:
    """`AccountSid`, `accountSid` or `account_sid` -> `account_sid`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def _pascal(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def from_v4(body: Any) -> dict[str, Any]:
    """004's WorkflowCredentialInput (Name, CredentialType, Data) as the canonical body."""
    body = _object(body)
    out: dict[str, Any] = {}
    for ours, theirs in (("name", "Name"), ("type", "CredentialType")):
        if body.get(theirs) is not None:
            out[ours] = body[theirs]
    data = body.get("Data")
    if isinstance(data, dict):
        data = {_snake(k): v for k, v in data.items()}
    if data is not None:
        out["data"] = data
    return out


def to_v4(shown: dict[str, Any]) -> dict[str, Any]:
    """A canonical answer as 004's WorkflowCredentialResult."""
    ctype = CredentialType(shown["typeId"])
    return {"WorkflowCredentialId": shown["id"], "Name": shown["name"],
            "CredentialType": int(ctype), "CredentialTypeName": ctype.pascal,
            "Data": {_pascal(k): v for k, v in shown["data"].items()},
            "CreatedOn": shown["createdAt"], "UpdatedOn": shown["updatedAt"]}


def _field_v4(field: str | None) -> str | None:
    if field is None:
        return None
    if field in ("name", "type", "data"):
        return {"name": "Name", "type": "CredentialType", "data": "Data"}[field]
    if field.startswith("data."):
        return "Data." + _pascal(field[len("data."):])
    return field


async def _v4(call: Any) -> dict[str, Any]:
    """The canonical handler's answer; its errors with 004's field names."""
    return await renamed_fields(call, _field_v4)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- views

def register(engine: Engine) -> None:
    app = engine.app

    @app.page(CANONICAL)
    class Credentials(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = require(request, "member").tenant
            shown = listed(engine, tenant)
            return json_response({"data": shown, "total": len(shown)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            return json_response(await create(engine, principal, await read_json(request)),
                                 status=201)

    @app.page(CANONICAL + "/{credential_id}")
    class Credential(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, credential_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response(present(find(engine, tenant, credential_id)))

        @json_errors
        async def put(self, request: web.Request, credential_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await update(engine, principal, credential_id,
                                              await read_json(request)))

        @json_errors
        async def delete(self, request: web.Request, credential_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await remove(engine, principal, credential_id))

    @app.page(V4)
    class CredentialsV4(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response([to_v4(c) for c in listed(engine, tenant)])

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            body = from_v4(await read_json(request))
            return json_response(to_v4(await _v4(create(engine, principal, body))),
                                 status=201)

    @app.page(V4 + "/{credential_id}")
    class CredentialV4(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, credential_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response(to_v4(present(find(engine, tenant, credential_id))))

        @json_errors
        async def put(self, request: web.Request, credential_id: str) -> web.Response:
            principal = require(request, "admin")
            body = from_v4(await read_json(request))
            return json_response(to_v4(await _v4(update(engine, principal, credential_id,
                                                        body))))

        @json_errors
        async def delete(self, request: web.Request, credential_id: str) -> web.Response:
            principal = require(request, "admin")
            await remove(engine, principal, credential_id)
            return json_response({"WorkflowCredentialId": credential_id, "Deleted": True})
