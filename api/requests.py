"""Reading requests: tenant, JSON body, query parameters, each with a clear 4xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from api.auth import principal_of
from api.errors import ApiError

MAX_BODY_BYTES = 1024 * 1024


def tenant_of(request: web.Request) -> str:
    """The authenticated caller's tenant (api/auth.py): x-tenant-id alone proves nothing."""
    return principal_of(request).tenant


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


MAX_PAGE_SIZE = 200


def pagination(request: web.Request, default_limit: int = 20) -> tuple[int, int, int]:
    """(page, limit, offset): `page`+`limit`, with `pageSize` for limit and `offset` accepted."""
    limit_name = "pageSize" if "pageSize" in request.query else "limit"
    limit = query_int(request, limit_name, default_limit, 1, MAX_PAGE_SIZE)
    page = query_int(request, "page", 1, 1, 10_000_000)
    if "offset" in request.query:
        offset = query_int(request, "offset", 0, 0, 2_000_000_000)
        return offset // limit + 1, limit, offset
    return page, limit, (page - 1) * limit


def query_time(request: web.Request, name: str) -> int | None:
    """Epoch ms from an ISO 8601 time (`2026-11-23T10:00:00Z`, a date) or epoch ms."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit():  # "²" is a digit to isdigit() but not to int()
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time (2026-11-23T10:00:00Z) or epoch "
                            f"milliseconds", field=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def query_choices(request: web.Request, name: str, allowed: tuple[str, ...]) -> list[str]:
    """A comma-separated filter whose every value must be one of `allowed`."""
    raw = request.query.get(name)
    if not raw:
        return []
    values = [v.strip() for v in raw.split(",") if v.strip()]
    for value in values:
        if value not in allowed:
            raise ApiError(400, f"{name} {value!r} is not one of {', '.join(allowed)}",
                           field=name)
    return values
