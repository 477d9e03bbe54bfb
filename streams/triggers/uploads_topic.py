"""The `uploads` topic: an upload gateway announces stored files, file_upload workflows run.

Value (JSON, a public contract, README "Files"): `{"tenant": ..., "fileId": ...,
"workflowId": ... (optional), "input": {...} (optional), "idempotencyKey": ...
(optional)}`. The file must already be in the store (`POST /api/files`). A
record naming a file the tenant does not have is dead-lettered with the
reason. With `workflowId`, that workflow starts (its filters refusing the file
is a refusal, recorded); without, every file_upload workflow of the tenant
whose filters take the file starts, and the others are counted, not errors.
The idempotency key defaults to `upload:<fileId>:<workflowId>`, so a
redelivered record starts nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.registry import valid_tenant
from steps.files import FileError, FileNotFound, FileRef, check_file_id
from streams import metrics
from streams.engine import Engine
from streams.triggers import file_upload
from streams.triggers.launch import Launch, Refused, record_refusal

log = logging.getLogger(__name__)
RETRIES_WHILE_CATCHING_UP = 5  # a 503: the registry replica is behind; it catches up in ms
STORE_RETRY_SECONDS = 1.0


class BadRecord(ValueError):
    """Not a usable uploads record; the message says why."""


@dataclass(frozen=True)
class Upload:
    tenant: str
    file_id: str
    workflow_id: str | None
    input: dict[str, Any]
    idempotency_key: str | None


def _optional_str(doc: dict[str, Any], name: str, limit: int) -> str | None:
    value = doc.get(name)
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
        raise BadRecord(f"{name} must be a string of 1-{limit} characters")
    return value


def parse(value: Any) -> Upload:
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"value is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRecord('value must be a JSON object {"tenant": ..., "fileId": ...}')
    tenant = doc.get("tenant")
    if not isinstance(tenant, str) or not valid_tenant(tenant):
        raise BadRecord("tenant is missing or not a valid tenant id")
    try:
        file_id = check_file_id(doc.get("fileId"))
    except FileError as exc:
        raise BadRecord(f"fileId: {exc}") from None
    fields = doc.get("input")
    fields = {} if fields is None else fields
    if not isinstance(fields, dict):
        raise BadRecord("input must be a JSON object")
    return Upload(tenant, file_id, _optional_str(doc, "workflowId", 64), fields,
                  _optional_str(doc, "idempotencyKey", 255))


async def _start_one(engine: Engine, event: Any, upload: Upload, ref: FileRef,
                     workflow_id: str, key: str | None) -> bool:
    for attempt in range(RETRIES_WHILE_CATCHING_UP + 1):
        try:
            if file_upload.fans_out(engine, upload.tenant, workflow_id):
                await file_upload.fan_out(engine, upload.tenant, workflow_id, ref,
                                          idempotency_key=key)
            else:
                await file_upload.start(engine, upload.tenant, workflow_id, ref,
                                        fields=upload.input, idempotency_key=key)
            return True
        except Refused as exc:
            if exc.status == 503 and attempt < RETRIES_WHILE_CATCHING_UP:
                await asyncio.sleep(1.0)
                continue
            request = Launch(upload.tenant, workflow_id, file_upload.run_input(ref, upload.input),
                             file_upload.TRIGGER, key or file_upload.default_key(ref, workflow_id),
                             actor=file_upload.TRIGGER)
            await record_refusal(engine, request, exc)
            return False
    return False


async def _stat(engine: Engine, upload: Upload) -> FileRef:
    """The file's reference; a store outage is retried a few times, then raised."""
    for attempt in range(RETRIES_WHILE_CATCHING_UP + 1):
        try:
            return await engine.files.stat(upload.tenant, upload.file_id)
        except FileError:
            raise
        except Exception:  # the store (S3) unreachable: it may come back in a moment
            if attempt == RETRIES_WHILE_CATCHING_UP:
                raise
            await asyncio.sleep(STORE_RETRY_SECONDS)
    raise AssertionError("unreachable")


async def handle(engine: Engine, event: Any, upload: Upload) -> int:
    """Start the runs one record asks for; how many were requested.

    Never raises for a record's file: an unknown file, an unreadable description
    or a store still down after retries is dead-lettered with the reason (an
    exception would end the agent and stall the topic's partition)."""
    try:
        ref = await _stat(engine, upload)
    except FileNotFound:
        await engine.dead_letter(event, f"file {upload.file_id} not found for tenant "
                                        f"{upload.tenant} (store it with POST /api/files "
                                        f"first): fileId", kind="missing_file")
        return 0
    except FileError as exc:
        await engine.dead_letter(event, f"file {upload.file_id} of tenant {upload.tenant} "
                                        f"cannot be used ({exc}): fileId", kind="invalid")
        return 0
    except Exception as exc:  # no message: a store error might quote its endpoint
        log.warning("uploads: file store unavailable for %s of %s: %s", upload.file_id,
                    upload.tenant, type(exc).__name__)
        await engine.dead_letter(event, f"file store unavailable ({type(exc).__name__}) "
                                        f"reading file {upload.file_id}; replay the record "
                                        "once it is back: fileId", kind="store_unavailable")
        return 0
    if upload.workflow_id is not None:
        started = await _start_one(engine, event, upload, ref, upload.workflow_id,
                                   upload.idempotency_key)
        return int(started)
    taken, refused = file_upload.matching(engine, upload.tenant, ref)
    for workflow_id in refused:
        metrics.RUNS_REFUSED.labels(reason="file_filter").inc()
        log.info("upload %s of %s: workflow %s filters refuse %s (%d bytes)", upload.file_id,
                 upload.tenant, workflow_id, ref.content_type, ref.size)
    count = 0
    for workflow_id in taken:
        key = f"{upload.idempotency_key}:{workflow_id}" if upload.idempotency_key else None
        count += await _start_one(engine, event, upload, ref, workflow_id, key)
    return count


def register(engine: Engine) -> None:
    @engine.app.agent(engine.uploads, name="uploads-agent")
    async def uploads_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                upload = parse(event.message.value)
            except BadRecord as exc:
                await engine.dead_letter(event, f"bad uploads record: {exc}", kind="decode")
                continue
            await handle(engine, event, upload)
