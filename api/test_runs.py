"""Test runs (004): start a workflow with a given event, else its event type's sample.

The run records `test` as its trigger, so history can list test runs apart
(`?trigger=test`) and health leaves them out of the workflow's figures.
"""

from __future__ import annotations

from typing import Any

import faust
import orjson
from aiohttp import web

from api import runs, workflows
from api.errors import ApiError, json_errors
from api.requests import parse_json, read_body, tenant_of
from schemas.event_types import sample_event
from streams.engine import Engine

TRIGGER = "test"


def trigger_of(engine: Engine, tenant: str, head: dict[str, Any]) -> Any:
    """The trigger of the version a test run starts on (published, else latest)."""
    version = workflows.runnable(engine, tenant, head)
    return orjson.loads(version["definition"]).get("trigger")


def sample_for(engine: Engine, tenant: str, head: dict[str, Any]) -> dict[str, Any]:
    """The sample event of the workflow's trigger type (a generic sample for other triggers)."""
    trigger = trigger_of(engine, tenant, head)
    if isinstance(trigger, dict) and trigger.get("type") == "event" \
            and isinstance(trigger.get("event"), str):
        return sample_event(trigger["event"], tenant)
    if isinstance(trigger, dict) and trigger.get("type") == "monitor_event":
        changes = trigger.get("change_types")
        return {"id": "sample", "tenant": tenant, "monitor_id": trigger.get("monitor_id"),
                "change_type": changes[0] if isinstance(changes, list) and changes
                else "changed", "time": "2024-01-01T00:00:00Z", "data": {}, "sample": True}
    return {"sample": True}


def event_payload(body: dict[str, Any]) -> dict[str, Any] | None:
    """004's `EventPayloadJson`: an object as a JSON string (None when absent)."""
    raw = body.get("EventPayloadJson")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ApiError(400, "EventPayloadJson must be a JSON string", field="EventPayloadJson")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"EventPayloadJson is not valid JSON: {exc}",
                       field="EventPayloadJson") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "EventPayloadJson must be a JSON object", field="EventPayloadJson")
    return payload


def _payload(body: Any) -> dict[str, Any] | None:
    """`payload` (an object) or 004's `EventPayloadJson` (an object as a JSON string)."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    payload = body.get("payload")
    if payload is None:
        return event_payload(body)
    if not isinstance(payload, dict):
        raise ApiError(400, "payload must be a JSON object", field="payload")
    return payload


def register(engine: Engine) -> None:
    @engine.app.page("/api/workflows/{workflow_id}/test")
    class TestRun(faust.web.View):
        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            """A test run, waited for like ?wait=true (202 if still running at the timeout)."""
            tenant = tenant_of(request)
            raw = await read_body(request)
            payload = _payload(parse_json(raw, required=False))
            if payload is None:
                head = await workflows.find_workflow(engine, tenant, workflow_id)
                payload = sample_for(engine, tenant, head)
            return await runs.start_run(engine, request, workflow_id, field="payload",
                                        wait=True, raw=raw, payload=payload, trigger=TRIGGER)
