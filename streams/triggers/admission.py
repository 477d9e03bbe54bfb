"""Admission: may this tenant start one more run now? (the plan's per-minute and daily limits)

The count lives with the tenant's control agent (streams/control/ratelimit.py),
so it is exact however many workers take triggers; this side asks it and
waits for the answer in the local registry replica, as streams/send_quota.py
does for send caps. A plan without run limits (unlimited: the bench, internal
tenants) is recognised from the local replica and costs no round trip.
"""

from __future__ import annotations

from schemas.plans import Plan, plan_named
from streams import intake
from streams.engine import Engine

WAIT_SECONDS = 10.0
ACTOR = "admission"


class Limited(Exception):
    """Refused by a limit: (status, message, reason, retry_after); launch makes it Refused."""

    def __init__(self, status: int, message: str, reason: str, retry_after: float) -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason
        self.retry_after = retry_after


def plan_of(engine: Engine, tenant: str) -> Plan:
    row = engine.registry.get("plan", tenant, "current")
    return plan_named(row["plan"] if row else engine.settings.default_plan)


def limited(plan: Plan) -> bool:
    return plan.executions_per_minute is not None or plan.daily_runs is not None


async def admit(engine: Engine, tenant: str, key: str) -> None:
    """Count one run (`key`: its run id, so a redelivery is not counted twice), or raise Limited."""
    if not limited(plan_of(engine, tenant)):
        return
    payload: dict[str, object] = {"key": key}
    if engine.settings.daily_runs_cap is not None:
        payload["daily_cap"] = engine.settings.daily_runs_cap
    command_id = await intake.send_control(engine, tenant, "runs.admit", ACTOR, payload)
    outcome = await engine.registry.outcome(command_id, WAIT_SECONDS)
    if outcome is None:
        raise Limited(503, "the run limit could not be checked in time; retry", "unchecked", 1)
    if not outcome["ok"]:  # a bug or bad command: never start runs past a limit silently
        raise Limited(503, str(outcome["message"]), "unchecked", 1)
    result = outcome["result"]
    if not result["admitted"]:
        raise Limited(429, str(result["message"]), str(result["reason"]),
                      float(result["retry_after"]))
