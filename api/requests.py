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


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required", field="body")
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", field="body") from exc


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
