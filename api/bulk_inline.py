"""Inline bulk lookups over HTTP: `POST /api/bulk-lookup` and its siblings (reference 001).

The body names the items (`emails`, `queries`, `phones`); each item runs the
lookup step of its route in-process (streams/inline_bulk.py). A client whose
`Accept` includes `text/event-stream` gets Server-Sent Events as items finish
(`event: result` per item, then `event: summary`, a comment line as keep-alive
while providers are slow); any other gets one JSON body with the results in
input order. A client that goes away stops the rest of the work: the broken
write is caught, and a watcher sees the transport close even while nothing is
being written (a slow provider), so the call is billed only for what ran.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import faust
import phonenumbers
from aiohttp import web

from api.auth import require
from api.credit_cap import check_credits
from api.errors import ApiError, json_errors
from api.requests import read_json
from api.responses import json_response
from api.sse import KEEPALIVE, SSE_HEADERS, client_gone, sse
from streams.engine import Engine
from streams.inline_bulk import KINDS, BulkKind, InlineBulk, NoProvider

KEEPALIVE_SECONDS = 15.0
WATCH_SECONDS = 0.25  # how often a silent stream checks that its client is still there


def wants_events(accept: str | None) -> bool:
    """Whether the Accept header lists text/event-stream (with a q above 0)."""
    for part in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if media != "text/event-stream":
            continue
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            return True
    return False


def parse_items(body: Any, kind: BulkKind) -> tuple[list[str], dict[str, Any]]:
    """(items, extra step config) from a request body: 400 naming the field, 413 over the cap."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", field="body")
    name = next((f for f in kind.fields if f in body), kind.fields[0])
    items = body.get(name)
    if not isinstance(items, list):
        raise ApiError(400, f"{name} must be an array of strings", field=name)
    if not items:
        raise ApiError(400, f"{name} must not be empty", field=name)
    if len(items) > kind.cap:
        raise ApiError(413, f"{name} may hold at most {kind.cap} items ({len(items)} given); "
                            f"use POST /api/bulk-jobs for more", field=name)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ApiError(400, f"{name}[{i}] must be a string", field=f"{name}[{i}]")
    config: dict[str, Any] = {}
    region = body.get("default_region")
    if kind.module.name == "phone_lookup" and region is not None:
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ApiError(400, "default_region must be an ISO 3166-1 alpha-2 region such as "
                                "US or GB", field="default_region")
        config["default_region"] = region
    return items, config


async def _watch(request: web.Request, bulk: InlineBulk) -> None:
    """Cancel the call's work as soon as its client's connection closes."""
    while not bulk.finished:
        if client_gone(request):
            bulk.cancel()
            return
        await asyncio.sleep(WATCH_SECONDS)


async def _stream(request: web.Request, bulk: InlineBulk) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    sent = 0
    try:
        while sent < len(bulk.items):  # not bulk.finished: finished items may be unsent yet
            result = await bulk.next(KEEPALIVE_SECONDS)
            if bulk.cancelled:
                return response
            if result is None:
                await response.write(KEEPALIVE)
                continue
            await response.write(sse("result", result.as_json()))
            sent += 1
        await response.write(sse("summary", bulk.summary()))
        await response.write_eof()
    except ConnectionError:  # the client went away mid-write: stop the rest (finally)
        bulk.cancel()
    return response


async def _collect(bulk: InlineBulk) -> web.Response:
    while not bulk.finished and not bulk.cancelled:
        await bulk.next(KEEPALIVE_SECONDS)
    return json_response({"results": bulk.results(), "summary": bulk.summary()})


async def bulk_call(engine: Engine, request: web.Request, kind: BulkKind) -> web.StreamResponse:
    tenant = require(request, "member").tenant
    body = await read_json(request)
    items, config = parse_items(body, kind)
    field = next((f for f in kind.fields if isinstance(body, dict) and f in body),
                 kind.fields[0])
    await check_credits(engine, tenant, len(items), what=f"call of {len(items)} items",
                        field=field)  # before any work: the same cap as bulk jobs
    try:
        bulk = InlineBulk(engine, tenant, kind, items, config)
    except NoProvider as exc:
        raise ApiError(503, str(exc)) from None
    bulk.start()
    watcher = asyncio.create_task(_watch(request, bulk))
    try:
        if wants_events(request.headers.get("Accept")):
            return await _stream(request, bulk)
        return await _collect(bulk)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bulk.close()


def _view(engine: Engine, kind: BulkKind) -> type[faust.web.View]:
    class BulkView(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.StreamResponse:
            return await bulk_call(engine, request, kind)

    BulkView.__name__ = BulkView.__qualname__ = "Bulk" + kind.path.rsplit("/", 1)[-1].title(
    ).replace("-", "")
    return BulkView


def register(engine: Engine) -> None:
    for kind in KINDS:
        engine.app.page(kind.path)(_view(engine, kind))
