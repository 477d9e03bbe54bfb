"""The plan's monthly credit cap, checked before bulk work starts (bulk jobs, inline bulk).

One check for both ways in: the credits the tenant used this month (UTC), as
the history store's `usage_daily` has them, plus what the call could cost (one
credit per row or item at most) must stay within `Plan.monthly_credits`; else
429 naming the cap, with a Retry-After to the first of next month.
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.errors import ApiError
from api.store import read
from history import bulk as sql
from streams.engine import Engine
from streams.triggers.admission import plan_of


async def check_credits(engine: Engine, tenant: str, count: int, *, what: str,
                        field: str) -> None:
    """429 when `count` more credits would go over this month's cap (`what`: the call)."""
    cap = plan_of(engine, tenant).monthly_credits
    if cap is None:
        return
    first = datetime.now(UTC).date().replace(day=1).isoformat()
    used = await read(engine, lambda tx: sql.credits_since(tx, tenant, first))
    if used + count > cap:
        raise ApiError(429, f"this {what} would take this month's credits "
                            f"({used} used) over the plan's monthly_credits cap of {cap}",
                       field=field, retry_after=seconds_to_next_month())


def seconds_to_next_month() -> float:
    now = datetime.now(UTC)
    nxt = (now.replace(day=28) + (now.replace(day=28) - now.replace(day=1))).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (nxt - now).total_seconds())
