"""Multipart starts: the file in `attachment` goes to the file store, the rest is input.

003 "File Uploads": `POST /api/workflow/start/{id}` (and start-async, and
`/api/workflows/{id}/run`) take `multipart/form-data`. The file is streamed to
`engine.files` as it arrives (never read whole, never put in a Kafka message);
the run's input gets its reference (`attachment`, and `fileId`) and every other
form field as a string. A body whose Content-Length is already over the cap is
refused before a byte is read. A file stored for a start that is then refused
(404, 409, 429, a bad input) is deleted again, so refusals leave nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.errors import ApiError
from steps.files import FileEmpty, FileError, FileRef, FileStore, FileTooLarge

MAX_ATTACHMENT_BYTES = 3_932_160  # 3.75 MB (003)
FIELDS_ALLOWANCE = 64 * 1024  # the other form fields and the multipart framing, all told
MAX_FIELDS = 200
MULTIPART = "multipart/form-data"


def is_multipart(request: web.Request) -> bool:
    return request.content_type == MULTIPART


@dataclass
class Form:
    """A multipart body once read: the text fields, and the stored file if one came."""

    fields: dict[str, str] = field(default_factory=dict)
    file: FileRef | None = None
    file_field: str | None = None


def too_large(limit: int, name: str) -> ApiError:
    return ApiError(413, f"{name} is larger than {limit} bytes", field=name)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(64 * 1024):
        yield chunk


async def _text(part: BodyPartReader, budget: int) -> str:
    """A text field, refused with 413 once all fields together pass the allowance."""
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > budget:
            raise ApiError(413, f"form fields are larger than {FIELDS_ALLOWANCE} bytes",
                           field=part.name or "body")
    return data.decode("utf-8", errors="replace")


async def read_form(store: FileStore, tenant: str, request: web.Request, *,
                    file_fields: tuple[str, ...] = ("attachment",),
                    max_bytes: int = MAX_ATTACHMENT_BYTES) -> Form:
    """Stream a multipart body: at most one file (in one of `file_fields`), text fields.

    413 naming the file field past `max_bytes` (before reading anything when the
    Content-Length says so), 400 naming it when the file is empty."""
    name = file_fields[0]
    if request.content_length is not None and \
            request.content_length > max_bytes + FIELDS_ALLOWANCE:
        raise too_large(max_bytes, name)
    form = Form()
    try:
        reader = await request.multipart()
        budget = FIELDS_ALLOWANCE
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "nested multipart bodies are not accepted", field="body")
            if part.name in file_fields or part.filename is not None:
                await _store_part(store, tenant, part, form, file_fields, max_bytes)
                continue
            if not part.name:
                raise ApiError(400, "every form field needs a name", field="body")
            if len(form.fields) >= MAX_FIELDS:
                raise ApiError(400, f"at most {MAX_FIELDS} form fields", field="body")
            value = await _text(part, budget)
            budget -= len(value.encode())
            form.fields[part.name] = value
    except ApiError:
        await discard(store, tenant, form)
        raise
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:  # malformed
        await discard(store, tenant, form)
        reason = getattr(exc, "message", None) or str(exc)
        raise ApiError(400, f"malformed multipart body: {str(reason)[:200]}",
                       field="body") from None
    return form


async def _store_part(store: FileStore, tenant: str, part: BodyPartReader, form: Form,
                      file_fields: tuple[str, ...], max_bytes: int) -> None:
    if part.name not in file_fields:
        raise ApiError(400, f"a file is accepted only in {' or '.join(file_fields)}, "
                            f"not in {part.name!r}", field=part.name or file_fields[0])
    if form.file is not None:
        raise ApiError(400, "send one file only", field=part.name)
    try:  # no content_type: the store sniffs the first bytes (a client's label is not trusted)
        form.file = await store.put_stream(tenant, _part_chunks(part),
                                           name=part.filename or part.name,
                                           max_bytes=max_bytes)
    except FileTooLarge:
        raise too_large(max_bytes, part.name) from None
    except FileEmpty:
        raise ApiError(400, f"{part.name} is empty", field=part.name) from None
    except FileError as exc:
        raise ApiError(400, str(exc), field=part.name) from None
    form.file_field = part.name


async def discard(store: FileStore, tenant: str, form: Form) -> None:
    """Delete the file a refused request stored (best effort: retention removes it anyway)."""
    if form.file is not None:
        with contextlib.suppress(OSError, FileError):
            await store.delete(tenant, form.file.file_id)
        form.file = None


@contextlib.asynccontextmanager
async def discarded_on_error(store: FileStore, tenant: str, form: Form
                             ) -> AsyncIterator[None]:
    """The request's stored file is deleted if what follows raises (a refused start)."""
    try:
        yield
    except BaseException:
        await discard(store, tenant, form)
        raise


def run_input(form: Form) -> dict[str, Any]:
    """The run's input: the text fields, plus `attachment` and `fileId` when a file came."""
    payload: dict[str, Any] = dict(form.fields)
    if form.file is not None:
        payload["attachment"] = form.file.to_json()
        payload["fileId"] = form.file.file_id
    return payload


def json_body(field_name: str, payload: dict[str, Any]) -> bytes:
    """What a forwarded start carries to the run's owner: JSON with the reference."""
    return orjson.dumps({field_name: payload})


def idempotent_form(payload: dict[str, Any]) -> dict[str, Any]:
    """The input as an Idempotency-Key compares it: an attachment by its content.

    Every multipart request stores its file under a new id, so a client retrying
    the same upload with the same key would otherwise always differ (409); the
    content (sha256, name, size) is what the client sent twice."""
    ref = payload.get("attachment")
    if not isinstance(ref, dict) or "sha256" not in ref:
        return payload
    same = {k: v for k, v in payload.items() if k not in ("attachment", "fileId")}
    same["attachment"] = {k: ref.get(k) for k in ("sha256", "name", "size")}
    return same


def names_another_file(response: web.Response, file_id: str) -> bool:
    """The answer is an earlier run (same Idempotency-Key) holding another file: ours is spare."""
    body = response.body if isinstance(response.body, bytes) else b""
    return b'"input"' in body and file_id.encode() not in body
