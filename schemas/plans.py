"""Plans: what a tenant may have (reference 004's caps), set per tenant by the operator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    workflows: int | None  # None: no cap
    steps_per_workflow: int | None
    credentials: int | None
    max_retries: int  # ceiling of a workflow's retry.max_retries
    executions_per_minute: int | None  # enforced by the triggers issue
    daily_runs: int | None


PLANS = {
    "free": Plan("free", 3, 5, 2, 5, 5, 50),
    "paid": Plan("paid", 28, 20, 20, 5, 60, None),
    # internal tenants (the bench, the operator's own automations)
    "unlimited": Plan("unlimited", None, None, None, 5, None, None),
}
DEFAULT_PLAN = "free"


def plan_named(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}") from None
