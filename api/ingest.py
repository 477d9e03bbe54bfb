"""Webhook ingest over HTTP: the workflow's ingest token, and the public URL that uses it.

`GET /api/workflows/{id}/webhook-token` makes the token on first call and shows
it then; afterwards it shows only a masked form and the token's id (the
registry keeps only its SHA-256). `POST` rotates it (the old URL answers 404
at once) and shows the new one; its body `{"verify": true}` also makes a new
Standard Webhooks signing secret (`whsec_...`, shown in that answer only,
stored encrypted), `{"verify": false}` turns verification off, no `verify`
keeps the current setting. Both need the admin role: the token is a credential.

`POST /api/workflows/ingest/{token}` needs no login (api/auth.py): it starts a
run with the body as input and answers 202 with the run id.
"""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web

from api.auth import Principal, require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso
from api.requests import read_body, read_json
from api.responses import json_response
from api.secrets import keyring_of
from schemas import statuses as st
from streams.engine import Engine
from streams.metrics import RUNS_REFUSED
from streams.triggers import ingest, signatures
from streams.triggers.launch import Refused

INGEST = "/api/workflows/ingest"
TOKEN = "/api/workflows/{workflow_id}/webhook-token"
TRIGGER = "webhook"


def _verify_mode(body: Any) -> str:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    verify = body.get("verify")
    if verify is None:
        return "keep"
    if not isinstance(verify, bool):
        raise ApiError(400, "verify must be true or false", field="verify")
    return "on" if verify else "off"


def _shown(request: web.Request, result: dict[str, Any], token: str | None,
           secret: str | None) -> dict[str, Any]:
    shown = result["created"] and token is not None
    out: dict[str, Any] = {
        "workflowId": result["workflow_id"], "tokenId": result["token_id"],
        "token": token if shown else None, "maskedToken": result["hint"],
        "url": f"{request.url.origin()}{INGEST}/{token}" if shown else None,
        "verify": result["verify"], "createdAt": iso(result["created_ms"]),
        "created": result["created"]}
    if secret is not None and shown:
        out["signingSecret"] = secret
    return out


async def issue(engine: Engine, principal: Principal, request: web.Request, workflow_id: str,
                *, rotate: bool, mode: str) -> dict[str, Any]:
    """Send the token command; the answer shows the token only if this call made it."""
    token, token_hash, hint = ingest.new_token()
    payload: dict[str, Any] = {"workflow_id": workflow_id, "token_hash": token_hash,
                               "hint": hint, "rotate": rotate, "verify": mode}
    secret = None
    if mode == "on":
        keyring = keyring_of(engine)
        secret = signatures.new_secret()
        payload.update(ciphertext=keyring.encrypt(secret), key_id=keyring.key_id)
    result = await submit(engine, principal, "webhook.token", payload)
    return _shown(request, result, token, secret)


def _refused(exc: Refused) -> ApiError:
    RUNS_REFUSED.labels(exc.reason).inc()
    return ApiError(exc.status, exc.message, field=exc.field)


def register(engine: Engine) -> None:
    app = engine.app

    @app.page(INGEST + "/{token}")
    class Ingest(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, token: str) -> web.Response:
            try:
                target = ingest.by_token(engine, token)
                raw = await read_body(request)  # 413 before reading past the cap
                run_id = await ingest.deliver(engine, target, raw, request.headers,
                                              trigger=TRIGGER)
            except Refused as exc:
                raise _refused(exc) from None
            return json_response({"runId": run_id, "workflowId": target.workflow_id,
                                  "status": st.PENDING}, status=202)

    @app.page(TOKEN)
    class WebhookToken(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await issue(engine, principal, request, workflow_id,
                                             rotate=False, mode="keep"))

        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            principal = require(request, "admin")
            mode = _verify_mode(await read_json(request, required=False))
            return json_response(await issue(engine, principal, request, workflow_id,
                                             rotate=True, mode=mode))
