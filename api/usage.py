"""GET /api/usage: the caller's tenant's credits and step calls per UTC day and step type.

Answered from the history store's usage table (history/projection.py moves it
with each step event), so it is one indexed range read, never a scan of runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import faust
from aiohttp import web

from api.auth import require
from api.errors import ApiError, json_errors
from api.responses import json_response
from api.store import read
from history import queries
from streams.engine import Engine

MAX_RANGE_DAYS = 366


def _day(request: web.Request, name: str) -> date | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str) -> date:
    raise ApiError(400, f"{name} must be a date YYYY-MM-DD (UTC)", field=name)


def day_range(request: web.Request, today: date) -> tuple[date, date]:
    """from/to (inclusive, UTC days); by default the current month up to today.

    Without `to`, the range ends today (at most MAX_RANGE_DAYS after `from`); without
    `from`, it starts on the first of `to`'s month.
    """
    first, last = _day(request, "from"), _day(request, "to")
    if first is None:
        first = (last or today).replace(day=1)
    if last is None:
        last = max(first, min(today, first + timedelta(days=MAX_RANGE_DAYS - 1)))
    if last < first:
        raise ApiError(400, "to must not be before from", field="to")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(400, f"the range may span at most {MAX_RANGE_DAYS} days", field="to")
    return first, last


def present(tenant: str, first: date, last: date,
            rows: list[tuple[str, str, int, int]]) -> dict[str, Any]:
    by_type: dict[str, dict[str, Any]] = {}
    for _, step_type, credits, calls in rows:
        entry = by_type.setdefault(step_type, {"stepType": step_type, "credits": 0, "calls": 0})
        entry["credits"] += credits
        entry["calls"] += calls
    return {"tenant": tenant, "from": first.isoformat(), "to": last.isoformat(),
            "totals": {"credits": sum(r[2] for r in rows), "calls": sum(r[3] for r in rows)},
            "byType": sorted(by_type.values(), key=lambda e: e["stepType"]),
            "days": [{"day": d, "stepType": t, "credits": c, "calls": n}
                     for d, t, c, n in rows]}


async def usage(engine: Engine, request: web.Request) -> web.Response:
    tenant = require(request, "member").tenant
    first, last = day_range(request, datetime.now(UTC).date())
    rows = await read(engine, lambda tx: queries.usage(tx, tenant, first.isoformat(),
                                                       last.isoformat()))
    return json_response(present(tenant, first, last, rows))


def register(engine: Engine) -> None:
    @engine.app.page("/api/usage")
    class Usage(faust.web.View):
        @json_errors
        async def get(self, request: web.Request) -> web.Response:
            return await usage(engine, request)
