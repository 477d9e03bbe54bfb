"""Run admission: the plan's runs per minute and runs per day, counted exactly per tenant.

Every trigger asks `runs.admit` before it sends a run request. The tenant's
control agent is the one writer of the tenant's rows, so two workers (or a
webhook and a schedule at once) cannot both take the last slot: the limit is
a property of the tenant, not of a worker. One row, `ratelimit/<tenant>/runs`,
keeps the admission times of the last minute (a sliding window: "5 a minute"
means no 6th within any 60 s), the UTC day's count, and the keys (run ids)
admitted recently, so a redelivered trigger naming the same run is answered
again and not counted twice. A refusal is a normal answer (`admitted: false`
with `retry_after` seconds), not a Rejected command, because the caller needs
the wait to put in Retry-After.
"""

from __future__ import annotations

from typing import Any

from streams.control.base import Op, Rejected, Tx, required
from streams.control.usage import day_of

WINDOW_MS = 60_000
DAY_MS = 86_400_000
KEYS_KEPT = 200  # redeliveries come within seconds; more than a minute's paid-plan runs
ROW = "runs"


def _limits(tx: Tx, payload: dict[str, Any]) -> tuple[int | None, int | None]:
    """(per minute, per day) of the tenant's plan, with the operator's daily cap if lower.

    The operator's cap (setting HOPFLOW_DAILY_RUNS_CAP) applies to every plan
    that limits runs at all; a plan without limits (unlimited) stays so.
    """
    plan = tx.plan
    per_minute, per_day = plan.executions_per_minute, plan.daily_runs
    cap = payload.get("daily_cap")
    if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0 and \
            (per_minute is not None or per_day is not None):
        per_day = cap if per_day is None else min(per_day, cap)
    return per_minute, per_day


def _seconds(ms: int) -> int:
    return max(1, -(-ms // 1000))


def admit(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    key = required(payload, "key")
    if not key:
        raise Rejected(400, "key is required", "key")
    per_minute, per_day = _limits(tx, payload)
    now, day = tx.now, day_of(tx.now)
    row = tx.get("ratelimit", ROW) or {"recent": [], "day": day, "used": 0, "keys": []}
    if row["day"] != day:
        row = {**row, "day": day, "used": 0}
    recent = [t for t in row["recent"] if t > now - WINDOW_MS]
    if key in row["keys"]:
        return {"admitted": True, "repeated": True, "used_today": row["used"]}
    if per_day is not None and row["used"] >= per_day:
        midnight = (now // DAY_MS + 1) * DAY_MS
        return {"admitted": False, "reason": "daily_runs", "retry_after": _seconds(midnight - now),
                "message": f"daily limit of {per_day} runs reached for plan {tx.plan.name} "
                           f"({day} UTC)"}
    if per_minute is not None and len(recent) >= per_minute:
        wait = recent[-per_minute] + WINDOW_MS - now
        return {"admitted": False, "reason": "runs_per_minute", "retry_after": _seconds(wait),
                "message": f"rate limit of {per_minute} runs per minute reached for plan "
                           f"{tx.plan.name}"}
    keep = max(per_minute or 0, 1)
    tx.put("ratelimit", ROW, {"recent": [*recent, now][-keep:], "day": day,
                              "used": row["used"] + 1,
                              "keys": [*row["keys"][-(KEYS_KEPT - 1):], key]})
    return {"admitted": True, "repeated": False, "used_today": row["used"] + 1}


OPS: dict[str, Op] = {"runs.admit": admit}
