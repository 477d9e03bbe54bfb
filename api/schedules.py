"""A workflow's cron schedule (reference 002): `GET|POST|PUT|DELETE /api/workflows/{id}/schedule`.

The API validates the body (the same parse the control op repeats as the
tenant's single writer) and answers with the row plus `next_run_at`, computed
here from the stored cron and zone. Firing is streams/triggers/scheduler.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
from aiohttp import web

from api.auth import Principal, require
from api.commands import submit
from api.errors import ApiError, json_errors
from api.presenters import iso as iso_ms
from api.requests import read_json
from api.responses import json_response
from streams.control.schedules import KIND
from streams.engine import Engine
from streams.triggers import slots

PATH = "/api/workflows/{workflow_id}/schedule"
FIELDS = ("cron_expression", "timezone", "enabled", "catch_up")


def present(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The row as 002 shows it, plus what fires next and what fired last."""
    zone = slots.zone_named(row["timezone"])
    cron = slots.Cron(row["cron_expression"], zone, len(row["cron_expression"].split()) == 6)
    after = max(now or datetime.now(UTC), datetime.fromtimestamp(row["cursor_s"], UTC))
    last = row.get("last_fired_s")
    return {
        "workflow_id": row["workflow_id"], "cron_expression": row["cron_expression"],
        "timezone": row["timezone"], "enabled": row["enabled"], "catch_up": row["catch_up"],
        "source": row["source"],
        "next_run_at": slots.iso(cron.next_after(after), zone) if row["enabled"] else None,
        "last_run_at": slots.iso(datetime.fromtimestamp(last, UTC), zone) if last else None,
        "last_run_id": row.get("last_run_id"), "last_refusal": row.get("last_refusal"),
        "created_at": iso_ms(row["created_ms"]), "updated_at": iso_ms(row["updated_ms"])}


def find(engine: Engine, tenant: str, workflow_id: str) -> dict[str, Any]:
    if engine.registry.get("workflow", tenant, workflow_id) is None:
        raise ApiError(404, f"workflow {workflow_id!r} not found")
    row = engine.registry.get(KIND, tenant, workflow_id)
    if row is None:
        raise ApiError(404, f"workflow {workflow_id!r} has no schedule")
    return row


def _validated(engine: Engine, body: Any, base: dict[str, Any] | None) -> dict[str, Any]:
    """The full settings: the body's fields over the stored ones (PUT may send a few)."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", field="body")
    merged = {k: v for k, v in (base or {}).items() if k in FIELDS}
    merged.update({k: body[k] for k in FIELDS if k in body and body[k] is not None})
    merged.setdefault("timezone", "UTC")
    merged.setdefault("enabled", True)
    merged.setdefault("catch_up", slots.RUN_ONCE)
    if not isinstance(merged["enabled"], bool):
        raise ApiError(400, "enabled must be true or false", field="enabled")
    if merged["catch_up"] not in slots.CATCH_UP:
        raise ApiError(400, "catch_up must be skip or run_once", field="catch_up")
    try:
        cron = slots.parse(merged.get("cron_expression"), merged["timezone"],
                           engine.settings.schedule_min_interval_seconds)
    except slots.ScheduleInvalid as exc:
        raise ApiError(400, exc.message, field=exc.field) from None
    merged["cron_expression"] = cron.expression
    return merged


async def write(engine: Engine, principal: Principal, workflow_id: str, body: Any, *,
                create: bool) -> dict[str, Any]:
    tenant = principal.tenant
    if engine.registry.get("workflow", tenant, workflow_id) is None:
        raise ApiError(404, f"workflow {workflow_id!r} not found")
    base = None if create else find(engine, tenant, workflow_id)
    settings = _validated(engine, body, base)
    await submit(engine, principal, "schedule.put",
                 {"workflow_id": workflow_id, "create": create, **settings})
    return present(find(engine, tenant, workflow_id))


def register(engine: Engine) -> None:
    @engine.app.page(PATH)
    class Schedule(faust.web.View):
        @json_errors
        async def get(self, request: web.Request, workflow_id: str) -> web.Response:
            tenant = require(request, "member").tenant
            return json_response(present(find(engine, tenant, workflow_id)))

        @json_errors
        async def post(self, request: web.Request, workflow_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await write(engine, principal, workflow_id,
                                             await read_json(request), create=True), status=201)

        @json_errors
        async def put(self, request: web.Request, workflow_id: str) -> web.Response:
            principal = require(request, "admin")
            return json_response(await write(engine, principal, workflow_id,
                                             await read_json(request), create=False))

        @json_errors
        async def delete(self, request: web.Request, workflow_id: str) -> web.Response:
            principal = require(request, "admin")
            find(engine, principal.tenant, workflow_id)
            await submit(engine, principal, "schedule.delete", {"workflow_id": workflow_id})
            return json_response({"workflow_id": workflow_id, "deleted": True})
