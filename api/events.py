"""Platform events over HTTP: publish one (for services that don't speak Kafka), list the types.

POST /api/events writes the event to the platform-events topic exactly as an
upstream producer would, so matching and starting runs happen in one place
(streams/triggers/event_agents.py). The tenant is the caller's, never the body's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiohttp import web

from api.auth import require
from api.errors import ApiError, json_errors
from api.requests import read_json, tenant_of
from api.responses import json_response
from schemas.event_types import catalog
from streams.engine import Engine
from streams.triggers import envelope

SOURCE = "hopflow/api"


def event_from(body: Any, tenant: str) -> dict[str, Any]:
    """The CloudEvent to publish: defaults for id, source, time, specversion; 400 naming a field."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    if body.get("tenant") not in (None, tenant):
        raise ApiError(400, "tenant must be the caller's tenant (or left out)", field="tenant")
    event = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": SOURCE,
             "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
                 "+00:00", "Z"), **body, "tenant": tenant}
    if "data" in event and event["data"] is not None and not isinstance(event["data"], dict):
        raise ApiError(400, "data must be a JSON object", field="data")
    try:
        return envelope.platform_event(event)
    except envelope.BadEvent as exc:
        raise ApiError(400, str(exc), field=exc.field) from None


def register(engine: Engine) -> None:
    topic = engine.catalog.platform_events.name

    @engine.app.page("/api/events")
    class Events(faust.web.View):
        @json_errors
        async def post(self, request: web.Request) -> web.Response:
            principal = require(request, "member")
            event = event_from(await read_json(request), principal.tenant)
            # acknowledged by the broker before the 202: an accepted event is never lost
            await (await engine.platform_events.send(key=principal.tenant,
                                                     value=orjson.dumps(event)))
            return json_response({"id": event["id"], "type": event["type"], "topic": topic},
                                 status=202)

    @engine.app.page("/api/workflows/event-types")
    class EventTypes(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            tenant_of(request)
            return json_response(catalog())
