"""Run lists, pending runs, logs, executions and health: answered from the history store.

Nothing here scans the live runs table: every list is one indexed query,
newest first, tenant-scoped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiohttp import web

from api import etags, presenters
from api.auth import require
from api.errors import ApiError, json_errors
from api.requests import (
    pagination,
    parse_json,
    query_choices,
    query_time,
    read_body,
    tenant_of,
)
from api.responses import json_response
from api.routing import forward
from api.runs import load_run
from api.store import read
from api.workflows import find_workflow
from history import queries
from schemas import statuses as st
from streams import intake
from streams.engine import Engine, now_ms

CLEAR_MAX = 10_000  # runs one clear call cancels
CLEAR_CONCURRENCY = 50


def _filter(request: web.Request, tenant: str, workflow_id: str | None,
            statuses: tuple[str, ...] = st.RUN_STATUSES) -> queries.RunFilter:
    chosen = query_choices(request, "status", statuses)
    from_ms, to_ms = query_time(request, "from"), query_time(request, "to")
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise ApiError(400, "to must not be before from", field="to")
    if workflow_id is None:
        workflow_id = request.query.get("workflow_id") or request.query.get("workflowId")
    trigger = request.query.get("trigger") or None
    if trigger is not None and len(trigger) > 64:
        raise ApiError(400, "trigger must be at most 64 characters", field="trigger")
    return queries.RunFilter(tenant, workflow_id, chosen or (
        () if statuses == st.RUN_STATUSES else statuses), from_ms, to_ms, trigger=trigger)


async def list_runs(engine: Engine, request: web.Request, workflow_id: str | None = None,
                    statuses: tuple[str, ...] = st.RUN_STATUSES) -> web.Response:
    tenant = tenant_of(request)
    page, limit, offset = pagination(request)
    where = _filter(request, tenant, workflow_id, statuses)
    found = await read(engine, lambda tx: queries.list_runs(tx, where, limit, offset))
    return json_response({"data": [presenters.run_summary(r) for r in found.runs],
                          "page": page, "limit": limit, "offset": offset,
                          "total": found.total, "totalCapped": found.total_capped,
                          "hasMore": found.has_more})


async def logs(engine: Engine, request: web.Request, run_id: str) -> web.Response:
    remote = await forward(engine, request, run_id)
    if remote is not None:
        return remote
    state = await load_run(engine, tenant_of(request), run_id)
    return json_response({"runId": run_id, "workflowId": state["workflow_id"],
                          "status": state["status"],
                          "logs": [presenters.log_entry(r) for r in state["history"]]})


async def clear_pending(engine: Engine, request: web.Request) -> web.Response:
    """Cancel every active run of the tenant (optionally of one workflow)."""
    tenant = require(request, "admin").tenant
    body = parse_json(await read_body(request), required=False)
    workflow_id = (body.get("workflowId") if isinstance(body, dict) else None) or \
        request.query.get("workflow_id")
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise ApiError(400, "workflowId must be a string", field="workflowId")
    active = await read(engine, lambda tx: queries.active_run_ids(
        tx, tenant, st.ACTIVE, workflow_id, CLEAR_MAX))
    gate = asyncio.Semaphore(CLEAR_CONCURRENCY)

    async def cancel(run_id: str) -> None:
        async with gate:
            await intake.control_run(engine, "cancel", run_id, tenant, "cleared")

    await asyncio.gather(*(cancel(run_id) for run_id, _ in active))
    return json_response({"cancelled": len(active), "runIds": [r for r, _ in active]})


async def workflow_health(engine: Engine, request: web.Request, workflow_id: str
                          ) -> web.Response:
    tenant = tenant_of(request)
    await find_workflow(engine, tenant, workflow_id)
    now = now_ms()
    figures: dict[str, Any] = await read(
        engine, lambda tx: queries.health(tx, tenant, workflow_id, now))
    return json_response(presenters.health(workflow_id, figures))


def register(engine: Engine) -> None:
    """Registered before the workflow and run routes: `/api/workflows/runs` must not be
    read as the workflow `runs`."""
    app = engine.app

    @app.page("/api/workflows/runs")
    class Runs(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return etags.conditional(request, await list_runs(engine, request))

    @app.page("/api/workflows/runs/pending")
    class Pending(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return etags.conditional(request, await list_runs(engine, request,
                                                              statuses=st.ACTIVE))

    @app.page("/api/workflows/runs/clear")
    class Clear(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            return await clear_pending(engine, request)

    @app.page("/api/workflows/logs")
    class Logs(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            run_id = request.query.get("run_id") or request.query.get("runId")
            if not run_id:
                raise ApiError(400, "run_id is required", field="run_id")
            return await logs(engine, request, run_id)

    @app.page("/api/workflows/runs/{run_id}/logs")
    class RunLogs(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, run_id: str) -> web.Response:
            return await logs(engine, request, run_id)

    @app.page("/api/workflows/{workflow_id}/runs")
    class WorkflowRuns(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            await find_workflow(engine, tenant_of(request), workflow_id)
            return etags.conditional(request, await list_runs(engine, request, workflow_id))

    @app.page("/api/workflows/{workflow_id}/executions")
    class Executions(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = tenant_of(request)
            await find_workflow(engine, tenant, workflow_id)
            page, limit, offset = pagination(request)
            where = _filter(request, tenant, workflow_id)
            execution_id = request.query.get("execution_id")
            if execution_id:
                where = queries.RunFilter(tenant, workflow_id, where.statuses, where.from_ms,
                                          where.to_ms, run_id=execution_id,
                                          trigger=where.trigger)
            found = await read(engine, lambda tx: queries.list_runs(
                tx, where, limit, offset, with_steps=True))
            return json_response({
                "executions": [presenters.execution(r, found.steps.get(r["run_id"], []))
                               for r in found.runs],
                "page": page, "limit": limit, "total": found.total,
                "has_more": found.has_more})

    @app.page("/api/workflows/{workflow_id}/health")
    class Health(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            return await workflow_health(engine, request, workflow_id)
