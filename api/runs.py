"""Runs: start (async, sync, idempotent), status with step history, cancel, terminate, delete.

A run is read from the live table on the worker owning its partition, and
from the history store once it has left the live table."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import faust
import orjson
from aiohttp import web

from api import attachments, presenters
from api.auth import principal_of, require
from api.errors import ApiError, json_errors
from api.requests import parse_json, query_bool, query_float, read_body, tenant_of
from api.responses import json_response
from api.routing import FORWARDED, RUN_ID_HEADER, forward, owns
from api.store import read
from api.workflows import admitted, find_workflow, runnable
from history import StoreUnavailable, queries
from schemas import input_schema
from schemas import statuses as st
from steps.file_trigger import TYPE as FILE_UPLOAD
from streams import intake
from streams.engine import Engine

MAX_WAIT_SECONDS = 300.0
DEFAULT_WAIT_SECONDS = 30.0
ACCEPT_TIMEOUT = 10.0


def _payload(raw: bytes, field: str) -> dict[str, Any]:
    body = parse_json(raw, required=False)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    payload = body.get(field) or {}
    if not isinstance(payload, dict):
        raise ApiError(400, f"{field} must be a JSON object", field=field)
    return payload


def idempotency_key_of(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ApiError(400, "Idempotency-Key must be 1-255 characters", field="Idempotency-Key")
    return key


async def _await_state(engine: Engine, run_id: str, done: Any, timeout: float
                       ) -> dict[str, Any] | None:
    """Wait on this worker until done(state) holds or the time is up; the last state seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = engine.runs.get(run_id)
    while not done(state):
        remaining = deadline - loop.time()
        if remaining <= 0 or not owns(engine, run_id):
            break
        changed = await engine.waiters.next_change(run_id, min(remaining, 1.0))
        state = changed if changed is not None else engine.runs.get(run_id)
    return state


def _terminal(state: dict[str, Any] | None) -> bool:
    return state is not None and state["status"] in st.TERMINAL


@functools.lru_cache(maxsize=1024)
def _input_schema(definition: str) -> dict[str, Any] | None:
    """The workflow version's input schema (parsed once per version, not per run)."""
    if "inputSchema" not in definition and "payload" not in definition:
        return None
    return input_schema.normalize(orjson.loads(definition))


def check_input(workflow: dict[str, Any], payload: dict[str, Any]) -> None:
    """400 naming the field when the input does not match the declared schema."""
    schema = _input_schema(workflow["definition"])
    if schema is not None:
        try:
            input_schema.validate_input(schema, payload)
        except input_schema.InputInvalid as exc:
            raise ApiError(400, f"{exc.field}: {exc.message}", field=exc.field) from exc


async def start_run(engine: Engine, request: web.Request, workflow_id: str, *, field: str,
                    wait: bool, raw: bytes | None = None,
                    payload: dict[str, Any] | None = None, trigger: str = "manual",
                    forward_type: str | None = None) -> web.Response:
    """`raw` and `payload`: a body already read, and the input a caller (an alias) made of it.

    `trigger` is what the run records as its trigger (`test` for test runs);
    `forward_type`: the content type of `raw` when it is not the request's own."""
    principal = principal_of(request)
    tenant = principal.tenant
    if raw is None:
        raw = await read_body(request)
    if payload is None:
        payload = _payload(raw, field)
    key = idempotency_key_of(request)
    timeout = query_float(request, "timeout", DEFAULT_WAIT_SECONDS, 0.1, MAX_WAIT_SECONDS)
    head = await find_workflow(engine, tenant, workflow_id)
    workflow = runnable(engine, tenant, head)
    if head.get("trigger_type") == FILE_UPLOAD and "attachment" not in payload and \
            trigger != "test":  # a test run may try a file_upload workflow on a sample
        raise ApiError(400, f"workflow {workflow_id!r} is started by a file upload: send the "
                            "file in the multipart field attachment", field="attachment")
    check_input(workflow, payload)
    forwarded_id = request.headers.get(RUN_ID_HEADER) if request.headers.get(FORWARDED) else None
    run_id = forwarded_id or intake.new_run_id(tenant, workflow_id, key)
    if key is not None or wait:
        remote = await forward(engine, request, run_id, body=raw, content_type=forward_type)
        if remote is not None:
            return remote
    digest = intake.body_hash(workflow_id, attachments.idempotent_form(payload)) \
        if key is not None else None
    state = engine.runs.get(run_id) if key is not None else None
    if state is None and key is not None:  # it may have left the live table already
        state = await stored_run(engine, tenant, run_id)
    gate = intake.gate_of(tenant, workflow, payload)
    if state is None:
        await admitted(engine, tenant, run_id)
        await intake.request_run(engine, run_id=run_id, tenant=tenant, workflow=workflow,
                                 input_json=orjson.dumps(payload).decode(),
                                 idempotency_key=key, digest=digest, trigger=trigger,
                                 actor=principal.actor, gate=gate)
    # a gated run may wait its turn for long: its acceptance is not awaited (the gate keeps
    # one request per run id), so a reused key's body is compared only once it started
    if key is not None and (gate is None or state is not None):
        state = await _await_state(engine, run_id, lambda s: s is not None, ACCEPT_TIMEOUT)
        if state is None:
            raise ApiError(504, "the run was requested but not accepted in time; retry with "
                                "the same Idempotency-Key")
        if state["body_hash"] != digest or state["tenant"] != tenant:
            raise ApiError(409, "Idempotency-Key was already used with a different body",
                           field="Idempotency-Key")
    if not wait:
        if state is not None:
            return json_response(presenters.run(state), status=200)
        return json_response({"runId": run_id, "workflowId": workflow_id,
                              "status": st.PENDING}, status=202)
    state = await _await_state(engine, run_id, _terminal, timeout)
    if state is None:
        return json_response({"runId": run_id, "workflowId": workflow_id,
                              "status": st.PENDING}, status=202)
    return json_response(presenters.run(state), status=200 if _terminal(state) else 202)


async def start_with_file(engine: Engine, request: web.Request, workflow_id: str, *,
                          field: str, wait: bool) -> web.Response:
    """A multipart start: store the attachment, then start as JSON with its reference.

    The workflow is looked up first, so a missing one stores nothing; a start
    refused after the file was stored (here or by the run's owner) deletes it."""
    tenant = principal_of(request).tenant
    await find_workflow(engine, tenant, workflow_id)
    form = await attachments.read_form(engine.files, tenant, request)
    payload = attachments.run_input(form)
    async with attachments.discarded_on_error(engine.files, tenant, form):
        response = await start_run(engine, request, workflow_id, field=field, wait=wait,
                                   raw=attachments.json_body(field, payload), payload=payload,
                                   forward_type="application/json")
    if form.file is not None and (response.status >= 400 or attachments.names_another_file(
            response, form.file.file_id)):  # refused, or a retry answered by the first run
        await attachments.discard(engine.files, tenant, form)
    return response


async def stored_run(engine: Engine, tenant: str, run_id: str) -> dict[str, Any] | None:
    """The run from the history store, or None (also when the store is down)."""
    try:
        return await engine.history.read(lambda tx: queries.get_run(tx, tenant, run_id))
    except StoreUnavailable:
        return None


async def load_run(engine: Engine, tenant: str, run_id: str) -> dict[str, Any]:
    """Live state if this worker has it, else the history store's copy; 404 otherwise."""
    state = engine.runs.get(run_id)
    if state is not None and state["tenant"] == tenant:
        return state
    stored = await read(engine, lambda tx: queries.get_run(tx, tenant, run_id))
    if stored is None:
        raise ApiError(404, f"run {run_id!r} not found")
    return stored


async def get_run(engine: Engine, request: web.Request, run_id: str) -> web.Response:
    tenant = tenant_of(request)
    remote = await forward(engine, request, run_id)
    if remote is not None:
        return remote
    state = await load_run(engine, tenant, run_id)
    response = json_response(presenters.run(state))
    response.headers[SOURCE_HEADER] = "live" if engine.runs.get(run_id) is state else "history"
    return response


async def stop_run(engine: Engine, request: web.Request, run_id: str, reason: str | None,
                   kind: str) -> web.Response:
    """cancel: the step in flight finishes first (202 until it has); terminate: at once."""
    tenant = tenant_of(request)
    remote = await forward(engine, request, run_id)
    if remote is not None:
        return remote
    state = await load_run(engine, tenant, run_id)
    if _terminal(state):
        raise ApiError(409, f"run {run_id} already {state['status']}")
    await intake.control_run(engine, kind, run_id, tenant, reason)
    state = await _await_state(  # a cancel waiting for its step answers 202 at once
        engine, run_id, lambda s: _terminal(s) or bool(s and s.get("cancel_reason")), 10.0)
    if state is None:  # the run's partition moved meanwhile
        return json_response({"runId": run_id, "status": "unknown"}, status=202)
    return json_response(presenters.run(state), status=200 if _terminal(state) else 202)


DELETE_VISIBLE_WAIT = 5.0
SOURCE_HEADER = "x-hopflow-source"  # live (the runs table) or history (the store)


async def delete_run(engine: Engine, request: web.Request, run_id: str) -> web.Response:
    """An ended run leaves the live table and every history store (409 while active)."""
    tenant = require(request, "admin").tenant
    remote = await forward(engine, request, run_id)
    if remote is not None:
        return remote
    state = await load_run(engine, tenant, run_id)
    if not _terminal(state):
        raise ApiError(409, f"run {run_id} is {state['status']}; cancel or terminate it first")
    await intake.control_run(engine, "delete", run_id, tenant,
                             workflow_id=state["workflow_id"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELETE_VISIBLE_WAIT
    while loop.time() < deadline and await stored_run(engine, tenant, run_id) is not None:
        await asyncio.sleep(0.05)
    return json_response({"runId": run_id, "deleted": True})


def _reason(raw: bytes) -> str | None:
    body = parse_json(raw, required=False)
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
        raise ApiError(400, "reason must be a string of at most 1000 characters", field="reason")
    return reason


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/workflows/{workflow_id}/run")
    class Run(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            if attachments.is_multipart(request):
                return await start_with_file(engine, request, workflow_id, field="input",
                                             wait=query_bool(request, "wait"))
            return await start_run(engine, request, workflow_id, field="input",
                                   wait=query_bool(request, "wait"))

    @app.page("/api/workflow/start/{workflow_id}")
    class StartSync(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            if attachments.is_multipart(request):
                return await start_with_file(engine, request, workflow_id, field="data",
                                             wait=True)
            return await start_run(engine, request, workflow_id, field="data", wait=True)

    @app.page("/api/workflow/start-async/{workflow_id}")
    class StartAsync(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            if attachments.is_multipart(request):
                return await start_with_file(engine, request, workflow_id, field="data",
                                             wait=False)
            return await start_run(engine, request, workflow_id, field="data", wait=False)

    @app.page("/api/workflows/runs/{run_id}")
    class RunDetail(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, run_id: str) -> web.Response:
            return await get_run(engine, request, run_id)

        @json_errors
        async def delete(self, request: web.Request, run_id: str) -> web.Response:
            return await delete_run(engine, request, run_id)

    @app.page("/api/workflow/status/{run_id}")
    class RunStatus(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, run_id: str) -> web.Response:
            return await get_run(engine, request, run_id)

    @app.page("/api/workflows/runs/{run_id}/cancel")
    class Cancel(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            raw = await read_body(request)
            return await stop_run(engine, request, run_id, _reason(raw), "cancel")

    @app.page("/api/workflows/runs/{run_id}/terminate")
    class Terminate(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, run_id: str) -> web.Response:
            raw = await read_body(request)
            return await stop_run(engine, request, run_id, _reason(raw), "terminate")

    def management(kind: str) -> type[faust.web.View]:
        class Management(faust.web.View):
            @json_errors
            async def post(self, request: web.Request) -> web.Response:
                raw = await read_body(request)
                body = parse_json(raw, required=False)
                run_id = body.get("runId") if isinstance(body, dict) else None
                if not isinstance(run_id, str) or not run_id:
                    raise ApiError(400, "runId is required", field="runId")
                return await stop_run(engine, request, run_id, _reason(raw), kind)

        Management.__name__ = f"Management{kind.title()}"
        return Management

    app.page("/api/workflow/management/cancel")(management("cancel"))
    app.page("/api/workflow/management/terminate")(management("terminate"))
