"""Async bulk jobs over HTTP: create (multipart CSV), status, list, download, cancel, progress.

`POST /api/bulk-jobs` validates the file (streamed to the file store, read
back, parsed by steps/documents/rows.py), checks the plan's monthly credit
cap and sends ONE `created` record to bulk-control: the rows are fanned out
by the bulk-progress agent, never here, so a crash cannot lose half a job.
Every read is answered from the history store (any worker can answer); the
store is written by the bulk projector, and this worker also writes the job
row (or the cancel) itself right away, idempotently, so a client polling the
worker it posted to sees its job at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web

from api import attachments
from api.auth import require
from api.credit_cap import check_credits
from api.errors import ApiError, json_errors
from api.requests import pagination
from api.responses import json_response
from api.sse import KEEPALIVE, SSE_HEADERS, client_gone, sse
from api.store import read
from history import StoreUnavailable
from history import bulk as sql
from schemas.run_events import rfc3339
from steps import registry
from steps.documents.rows import MAX_ROWS, RowsError, pick_column, read_rows, results_csv
from steps.files import FileError, read_bytes
from streams.bulk import jobs
from streams.bulk import runs as bulk_runs
from streams.bulk.fanout import MAX_FILE_BYTES
from streams.bulk.progress import control_record
from streams.engine import Engine, now_ms

PATH = "/api/bulk-jobs"
WORKFLOW_FIELDS = ("run_id", "status", "result")
PROGRESS_EVERY_SECONDS = 0.5
PROGRESS_MAX_SECONDS = 3600.0
KEEPALIVE_SECONDS = 15.0


def present(job: sql.BulkJobRow) -> dict[str, Any]:
    return {"id": job.job_id, "type": job.type, "status": job.status, "total_rows": job.total,
            "processed": job.processed, "failed": job.failed, "credits_used": job.credits,
            "created_at": rfc3339(job.created_ms),
            "completed_at": None if job.completed_ms is None else rfc3339(job.completed_ms),
            "error": job.error}


def _job_id(request: web.Request) -> str:
    raw = request.query.get("id")
    if not raw:
        raise ApiError(400, "the query parameter id is required", field="id")
    return raw


async def _job(engine: Engine, tenant: str, job_id: str) -> sql.BulkJobRow:
    job = await read(engine, lambda tx: sql.get_job(tx, tenant, job_id))
    if job is None:
        raise ApiError(404, f"bulk job {job_id[:80]!r} not found")
    return job


async def local_write(engine: Engine, fn: Any) -> None:
    """Read-your-writes on this worker; the projector writes the same thing idempotently."""
    with contextlib.suppress(StoreUnavailable):
        await engine.history.write(fn)


async def create(engine: Engine, request: web.Request) -> web.Response:
    tenant = require(request, "member").tenant
    if not attachments.is_multipart(request):
        raise ApiError(415, "send multipart/form-data with the CSV in the field file",
                       field="file")
    form = await attachments.read_form(engine.files, tenant, request, file_fields=("file",),
                                       max_bytes=MAX_FILE_BYTES)
    async with attachments.discarded_on_error(engine.files, tenant, form):
        if form.file is None:
            raise ApiError(400, "the multipart field file is required", field="file")
        type_ = form.fields.get("type")
        if type_ not in jobs.TYPES:
            raise ApiError(400, f"type must be one of {', '.join(jobs.TYPES)}", field="type")
        column = form.fields.get("column") or None
        try:
            _, data = await read_bytes(engine.files, tenant, form.file.file_id,
                                       max_bytes=MAX_FILE_BYTES)
            table = read_rows(data, max_rows=MAX_ROWS)
            column_index = pick_column(table, type_, column)
        except RowsError as exc:
            raise ApiError(exc.status, str(exc), field=exc.field) from None
        except FileError as exc:
            raise ApiError(400, f"the file could not be read back: {exc}", field="file") from None
        total = len(table.rows)
        await check_credits(engine, tenant, total, what=f"job of {total} rows",
                            field="file")
    job_id = f"job_{uuid.uuid4().hex}"
    record = control_record("created", job_id, tenant, created={
        "type": type_, "column": column_index, "total": total, "file_id": form.file.file_id})
    await engine.bulk_control.send(key=job_id, value=record)
    created_ms = now_ms()
    decoded = {"job_id": job_id, "tenant": tenant, "ts_ms": created_ms,
               "created": {"type": type_, "column": column_index, "total": total,
                           "file_id": form.file.file_id}}
    await local_write(engine, lambda tx: sql.created(tx, decoded))
    return json_response({"id": job_id, "type": type_, "status": jobs.QUEUED,
                          "total_rows": total, "processed": 0, "failed": 0,
                          "credits_used": 0, "created_at": rfc3339(created_ms),
                          "completed_at": None, "error": None}, status=201)


async def status_or_list(engine: Engine, request: web.Request) -> web.Response:
    tenant = require(request, "member").tenant
    if "id" in request.query:
        return json_response(present(await _job(engine, tenant, _job_id(request))))
    page, limit, offset = pagination(request)
    found, total = await read(engine, lambda tx: sql.list_jobs(tx, tenant, limit, offset))
    return json_response({"data": [present(j) for j in found], "page": page, "limit": limit,
                          "offset": offset, "total": total,
                          "hasMore": offset + len(found) < total})


async def cancel(engine: Engine, request: web.Request) -> web.Response:
    tenant = require(request, "member").tenant
    job = await _job(engine, tenant, _job_id(request))
    if job.status in (jobs.COMPLETED, jobs.FAILED):
        raise ApiError(409, f"bulk job {job.job_id} is already {job.status}", field="id")
    if job.status != jobs.CANCELLED:
        await engine.bulk_control.send(key=job.job_id,
                                       value=control_record("cancel", job.job_id, tenant))
        ts = now_ms()
        await local_write(engine, lambda tx: sql.ended(tx, job.job_id, jobs.CANCELLED, None, ts))
    return json_response(present(await _job(engine, tenant, job.job_id)))


async def download(engine: Engine, request: web.Request) -> web.StreamResponse:
    """The results so far (every input row; rows not done yet have empty result cells)."""
    tenant = require(request, "member").tenant
    job = await _job(engine, tenant, _job_id(request))
    try:
        _, data = await read_bytes(engine.files, tenant, job.file_id, max_bytes=MAX_FILE_BYTES)
        table = read_rows(data, max_rows=MAX_ROWS)
    except (FileError, RowsError):
        raise ApiError(409, f"bulk job {job.job_id}'s input file is no longer available",
                       field="id") from None
    rows = await read(engine, lambda tx: sql.job_results(tx, job.job_id))
    results: dict[int, dict[str, Any] | None] = {}
    errors: dict[int, str] = {}
    for index, _ok, output, error in rows:
        results[index] = None if output is None else orjson.loads(output)
        if error:
            errors[index] = error
    if job.type == bulk_runs.TYPE:  # a fan-out: each row's run (streams/machine.py bulk_report)
        fields = list(WORKFLOW_FIELDS)
    else:
        module = registry.get(f"{job.type}_lookup")
        fields = [f for f in getattr(module, "OUTPUT", {}) if f != "input"]
    response = web.StreamResponse(status=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{job.job_id}.csv"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})
    await response.prepare(request)
    for chunk in results_csv(table, fields, results, errors):
        await response.write(chunk.encode())
    await response.write_eof()
    return response


async def progress(engine: Engine, request: web.Request) -> web.StreamResponse:
    """`progress` events while the counters move, then one `done` with the whole job."""
    tenant = require(request, "member").tenant
    job = await _job(engine, tenant, _job_id(request))
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)

    async def fetch() -> sql.BulkJobRow | None:
        try:
            return await _job(engine, tenant, job.job_id)
        except ApiError:
            return None

    await follow(response, job, fetch, lambda: client_gone(request))
    return response


async def follow(response: web.StreamResponse, job: sql.BulkJobRow,
                 fetch: Callable[[], Awaitable[sql.BulkJobRow | None]],
                 gone: Callable[[], bool]) -> None:
    """Write progress until the job ends, the stream's time is up, or the client leaves.

    A job can sit queued or between batches for a long time: a keep-alive comment
    every KEEPALIVE_SECONDS keeps proxies from closing the stream, and a client that
    went away ends the loop at once instead of polling the store for an hour.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROGRESS_MAX_SECONDS
    quiet_since = loop.time()
    last: tuple[Any, ...] | None = None
    try:
        while True:
            now = (job.processed, job.failed, job.total, job.status)
            if now != last:
                await response.write(sse("progress", {
                    "processed": job.processed, "failed": job.failed, "total": job.total,
                    "status": job.status}))
                last, quiet_since = now, loop.time()
            elif loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                await response.write(KEEPALIVE)
                quiet_since = loop.time()
            if job.status in jobs.TERMINAL or loop.time() > deadline:
                break
            await asyncio.sleep(PROGRESS_EVERY_SECONDS)
            if gone():
                return
            fresh = await fetch()
            if fresh is None:
                break
            job = fresh
        await response.write(sse("done", present(job)))
        await response.write_eof()
    except ConnectionError:  # the client went away mid-write
        return


def register(engine: Engine) -> None:
    app = engine.app

    @app.page(PATH)
    class BulkJobs(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            return await create(engine, request)

        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return await status_or_list(engine, request)

        @json_errors
        async def delete(self, request: web.Request) -> web.Response:
            return await cancel(engine, request)

    @app.page(PATH + "/download")
    class BulkJobDownload(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.StreamResponse:
            return await download(engine, request)

    @app.page(PATH + "/events")
    class BulkJobEvents(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.StreamResponse:
            return await progress(engine, request)
