"""Files: download a stored file, read its reference, store one; upload to a workflow.

`GET /api/files/{fileId}` streams the bytes to the owner tenant (another
tenant's file is 404, the same as a missing one) as a download that browsers
never render (`Content-Disposition: attachment`, `nosniff`). `POST /api/files`
stores a file for a gateway that then announces it on the `uploads` topic.
`POST /api/workflows/{id}/upload` starts a file_upload workflow with the file,
or, for a `fan_out: "rows"` workflow, a bulk job of one run per CSV row.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import faust
from aiohttp import web

from api import attachments, bulk_jobs
from api.auth import principal_of, require
from api.errors import ApiError, json_errors
from api.responses import json_response
from api.store import read
from api.workflows import refused_error
from history import bulk as sql
from schemas.run_events import rfc3339
from steps import file_trigger
from steps.files import FileError, FileNotFound, FileRef, check_file_id
from streams.bulk.fanout import MAX_FILE_BYTES
from streams.engine import Engine
from streams.triggers import file_upload
from streams.triggers.launch import Refused

UPLOAD_FIELDS = ("file", "attachment")


def _file_id(raw: str) -> str:
    try:
        return check_file_id(raw)
    except FileError:
        raise ApiError(404, f"file {raw[:80]!r} not found") from None


async def _stat(engine: Engine, tenant: str, raw_id: str) -> FileRef:
    try:
        return await engine.files.stat(tenant, _file_id(raw_id))
    except FileNotFound:
        raise ApiError(404, f"file {raw_id!r} not found") from None


def _disposition(name: str) -> str:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                         for c in name) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(engine: Engine, request: web.Request, raw_id: str) -> web.StreamResponse:
    tenant = require(request, "member").tenant
    ref = await _stat(engine, tenant, raw_id)
    digest = base64.b64encode(bytes.fromhex(ref.sha256)).decode()
    response = web.StreamResponse(status=200, headers={
        "Content-Type": ref.content_type, "Content-Disposition": _disposition(ref.name),
        "X-Content-Type-Options": "nosniff", "Content-Length": str(ref.size),
        "ETag": f'"{ref.sha256}"', "Digest": f"sha-256={digest}",
        "Cache-Control": "private, no-store"})
    chunks = engine.files.chunks(tenant, ref.file_id)
    try:
        first = await chunks.__anext__()
    except FileNotFound:  # deleted between stat and read
        raise ApiError(404, f"file {raw_id!r} not found") from None
    except StopAsyncIteration:
        first = b""
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def store(engine: Engine, request: web.Request) -> web.Response:
    tenant = require(request, "member").tenant
    if not attachments.is_multipart(request):
        raise ApiError(415, "send multipart/form-data with the file in the field file",
                       field="file")
    form = await attachments.read_form(engine.files, tenant, request, file_fields=UPLOAD_FIELDS)
    if form.file is None:
        raise ApiError(400, "the multipart field file is required", field="file")
    return json_response(form.file.to_json(), status=201)


async def upload(engine: Engine, request: web.Request, workflow_id: str) -> web.Response:
    """Store the file, check the workflow's filters, start it (202 with run id and file)."""
    principal = principal_of(request)
    tenant = principal.tenant
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ApiError(400, "Idempotency-Key must be 1-255 characters", field="Idempotency-Key")
    try:
        trigger = file_upload.upload_trigger(engine, tenant, workflow_id)
    except Refused as exc:
        raise refused_error(exc) from None
    if not attachments.is_multipart(request):
        raise ApiError(415, "send multipart/form-data with the file in the field file",
                       field="file")
    limit = trigger.get("max_size")
    # a fan-out CSV may be as big as a bulk job's (16 MB); a file for one run, an attachment's
    cap = MAX_FILE_BYTES if file_trigger.fans_out(trigger) else attachments.MAX_ATTACHMENT_BYTES
    max_bytes = min(limit, cap) if isinstance(limit, int) else cap
    form = await attachments.read_form(engine.files, tenant, request,
                                       file_fields=UPLOAD_FIELDS, max_bytes=max_bytes)
    if form.file is None:
        raise ApiError(400, "the multipart field file is required", field="file")
    ref = form.file
    if file_trigger.fans_out(trigger):
        return await _fan_out(engine, request, workflow_id, form, key, principal.actor)
    try:
        async with attachments.discarded_on_error(engine.files, tenant, form):
            run_id, _ = await file_upload.start(engine, tenant, workflow_id, ref,
                                                fields=form.fields, idempotency_key=key,
                                                actor=principal.actor)
    except Refused as exc:
        raise refused_error(exc) from None
    return json_response({"runId": run_id, "workflowId": workflow_id, "status": "pending",
                          "file": ref.to_json()}, status=202)


async def _fan_out(engine: Engine, request: web.Request, workflow_id: str,
                   form: attachments.Form, key: str | None, actor: str) -> web.Response:
    """A `fan_out: "rows"` workflow: a bulk job of one run per CSV row (202 with the job)."""
    tenant = principal_of(request).tenant
    ref = form.file
    assert ref is not None
    try:
        async with attachments.discarded_on_error(engine.files, tenant, form):
            created = await file_upload.fan_out(engine, tenant, workflow_id, ref,
                                                idempotency_key=key, actor=actor)
    except Refused as exc:
        raise refused_error(exc) from None
    await bulk_jobs.local_write(engine, lambda tx: sql.created(tx, created.record))
    job = await read(engine, lambda tx: sql.get_job(tx, tenant, created.job_id))
    body = bulk_jobs.present(job) if job is not None else {
        "id": created.job_id, "type": "workflow", "status": "queued",
        "total_rows": created.total, "processed": 0, "failed": 0, "credits_used": 0,
        "created_at": rfc3339(created.record["ts_ms"]), "completed_at": None, "error": None}
    body["workflow_id"] = workflow_id
    return json_response({"job": body, "file": ref.to_json()}, status=202)


def register(engine: Engine) -> None:
    app = engine.app

    @app.page("/api/files")
    class Files(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            return await store(engine, request)

    @app.page("/api/files/{file_id}")
    class FileDownload(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, file_id: str) -> web.StreamResponse:
            return await download(engine, request, file_id)

    @app.page("/api/files/{file_id}/meta")
    class FileMeta(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, file_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response((await _stat(engine, tenant, file_id)).to_json())

    @app.page("/api/workflows/{workflow_id}/upload")
    class WorkflowUpload(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            return await upload(engine, request, workflow_id)
