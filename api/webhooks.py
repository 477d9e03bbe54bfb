"""Outbound webhook endpoints: `/api/webhooks` CRUD, secret rotation, deliveries.

The signing secret (`whsec_...`) is made here, encrypted with the keyring before
the command is sent, and answered only by the create and rotate calls; every
other answer shows `secretSet: true` and nothing else of it.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import faust
from aiohttp import web

from api.auth import Principal, require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso
from api.requests import pagination, read_json
from api.responses import json_response
from api.secrets import keyring_of
from api.store import read
from steps.http import BlockedURL, check_url
from steps.integrations.hosts import _allow_listed
from streams.engine import Engine
from streams.webhooks import signing, store
from streams.webhooks.deliverer import KIND

BASE = "/api/webhooks"
MAX_URL = 2000
EVENT_TYPES = (*signing.SUBSCRIBABLE, "*")


def present(row: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    shown = {"id": row["id"], "url": row["url"], "eventTypes": row["event_types"],
             "workflowId": row.get("workflow_id"), "enabled": row.get("enabled", True),
             "disabledReason": row.get("disabled_reason"), "secretSet": True,
             "createdAt": iso(row["created_ms"]), "updatedAt": iso(row["updated_ms"])}
    if secret is not None:
        shown["secret"] = secret  # only in the create and rotate answers
    return shown


def find(engine: Engine, tenant: str, endpoint_id: str) -> dict[str, Any]:
    row = engine.registry.get(KIND, tenant, endpoint_id)
    if row is None:
        raise ApiError(404, f"webhook {endpoint_id!r} not found")
    return row


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "url is required", field="url")
    if len(value) > MAX_URL:
        raise ApiError(400, f"url must be at most {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        raise ApiError(400, "url is not a valid URL", field="url") from None
    if parts.username or parts.password:
        raise ApiError(400, "url must not carry a user name or password", field="url")
    # plain http only for the operator's allow-listed peers (tests' stand-ins)
    if parts.scheme != "https" and not (parts.scheme == "http" and _allow_listed(host)):
        raise ApiError(400, "url must be an https:// URL", field="url")
    try:
        check_url(value)
    except BlockedURL as exc:
        raise ApiError(400, f"url: {exc}", field="url") from None
    return value


def _types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise ApiError(400, "eventTypes must be a non-empty list of event types "
                            f"({', '.join(EVENT_TYPES)})", field="eventTypes")
    unknown = [t for t in value if t not in EVENT_TYPES]
    if unknown:
        raise ApiError(400, f"eventTypes: unknown {unknown[0]!r} (one of "
                            f"{', '.join(EVENT_TYPES)})", field="eventTypes")
    return sorted(set(value))


def _fields(body: Any, row: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    old = row or {}
    url = _url(body.get("url")) if "url" in body or row is None else old["url"]
    types = (_types(body.get("eventTypes")) if "eventTypes" in body or row is None
             else old["event_types"])
    workflow_id = body.get("workflowId", old.get("workflow_id"))
    if workflow_id is not None and (not isinstance(workflow_id, str) or not workflow_id
                                    or len(workflow_id) > 200):
        raise ApiError(400, "workflowId must be a workflow id or null", field="workflowId")
    enabled = body.get("enabled", old.get("enabled", True))
    if not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be true or false", field="enabled")
    return {"url": url, "event_types": types, "workflow_id": workflow_id, "enabled": enabled}


def _sealed(engine: Engine) -> tuple[str, dict[str, Any]]:
    keyring = keyring_of(engine)
    secret = signing.new_secret()
    return secret, {"ciphertext": keyring.encrypt(secret), "key_id": keyring.key_id}


async def create(engine: Engine, principal: Principal, body: Any) -> dict[str, Any]:
    fields = _fields(body, None)
    secret, sealed = _sealed(engine)
    endpoint_id = f"wh_{uuid.uuid4().hex[:16]}"
    await submit(engine, principal, "webhook_endpoint.create",
                 {"id": endpoint_id, **fields, **sealed})
    return present(find(engine, principal.tenant, endpoint_id), secret)


async def update(engine: Engine, principal: Principal, endpoint_id: str, body: Any
                 ) -> dict[str, Any]:
    fields = _fields(body, find(engine, principal.tenant, endpoint_id))
    await submit(engine, principal, "webhook_endpoint.update",
                 {"id": endpoint_id, **fields})
    return present(find(engine, principal.tenant, endpoint_id))


async def rotate(engine: Engine, principal: Principal, endpoint_id: str) -> dict[str, Any]:
    find(engine, principal.tenant, endpoint_id)
    secret, sealed = _sealed(engine)
    await submit(engine, principal, "webhook_endpoint.rotate",
                 {"id": endpoint_id, **sealed})
    return present(find(engine, principal.tenant, endpoint_id), secret)


def _delivery(item: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": item["event_id"], "eventType": item["event_type"],
            "status": item["status"], "attempts": item["attempts"],
            "lastStatus": item["last_status"], "lastError": item["last_error"],
            "lastAttemptAt": iso(item["last_attempt_ms"]) if item["last_attempt_ms"] else None,
            "nextAttemptAt": iso(item["next_attempt_ms"]) if item["next_attempt_ms"] else None,
            "createdAt": iso(item["created_ms"]),
            "attemptLog": [{"attempt": a["attempt"], "status": a["status"], "error": a["error"],
                            "at": iso(a["time_ms"]),
                            "nextAttemptAt": iso(a["next_attempt_ms"])
                            if a.get("next_attempt_ms") else None}
                           for a in item["history"]]}


def register(engine: Engine) -> None:
    app = engine.app

    @app.page(BASE)
    class Webhooks(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant = require(request, "member").tenant
            rows = sorted(engine.registry.entries(KIND, tenant).values(),
                          key=lambda r: (r["created_ms"], r["id"]))
            return json_response({"data": [present(r) for r in rows], "total": len(rows)})

        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "admin")
            return json_response(await create(engine, principal, await read_json(request)),
                                 status=201)

    @app.page(BASE + "/{webhook_id}")
    class Webhook(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, webhook_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response(present(find(engine, tenant, webhook_id)))

        @json_errors
        async def put(self, request: web.Request, webhook_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await update(engine, principal, webhook_id,
                                              await read_json(request)))

        @json_errors
        async def delete(self, request: web.Request, webhook_id: str) -> web.Response:
            principal = require(request, "admin")
            find(engine, principal.tenant, webhook_id)
            await submit(engine, principal, "webhook_endpoint.delete",
                         {"id": webhook_id})
            return json_response({"id": webhook_id, "deleted": True})

    @app.page(BASE + "/{webhook_id}/rotate-secret")
    class WebhookRotate(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, webhook_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await rotate(engine, principal, webhook_id))

    @app.page(BASE + "/{webhook_id}/deliveries")
    class WebhookDeliveries(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, webhook_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            find(engine, tenant, webhook_id)
            page, limit, offset = pagination(request)
            total, items = await read(engine, lambda tx: store.listed(tx, webhook_id, limit,
                                                                       offset))
            return json_response({"data": [_delivery(i) for i in items], "total": total,
                                  "page": page, "limit": limit, "offset": offset})
