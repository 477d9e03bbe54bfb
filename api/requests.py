"""Reading requests: tenant, JSON body, query parameters, each with a clear 4xx."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from api.errors import ApiError

MAX_BODY_BYTES = 1024 * 1024
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def tenant_of(request: web.Request) -> str:
    """The caller's tenant (from x-tenant-id until authentication lands)."""
    tenant = request.headers.get("x-tenant-id", "default")
    if not _TENANT.match(tenant):
        raise ApiError(400, "x-tenant-id must be 1-64 letters, digits, _ . -",
                       field="x-tenant-id")
    return tenant


async def read_body(request: web.Request) -> bytes:
    """The raw body, refused with 413 past MAX_BODY_BYTES (checked before reading it all)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):  # read(n) may return less than n
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, *, required: bool = True) -> Any:
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required", field="body")
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", field="body") from exc


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    return parse_json(await read_body(request), required=required)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", field=name)
    return value


def query_float(request: web.Request, name: str, default: float, low: float, high: float
                ) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", field=name)
    return value


def query_bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")
