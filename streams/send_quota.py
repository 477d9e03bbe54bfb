"""The executor's side of the plan's send caps: `reserve` for steps that send.

A step that sends email or SMS (module attribute `sends = True`) gets
`ctx.extras["reserve"]`; calling it sends a `sendquota.reserve` command to
the tenant's control agent (streams/control/usage.py) and waits for the
answer in this worker's registry replica, as the API waits for its writes.
Tenants whose plan has no send caps skip the round trip. The reservation key
is the run and the step execution's sequence number, not the attempt: a
retry of a send that failed halfway is not counted twice.
"""

from __future__ import annotations

from schemas.plans import plan_named
from steps.base import StepFailed
from steps.integrations.quota import Reserve
from streams import intake
from streams.engine import Engine

WAIT_SECONDS = 10.0
ACTOR = "executor"


def reserver(engine: Engine, tenant: str, key: str) -> Reserve:
    async def reserve(channel: str, units: int, recipients: int) -> None:
        row = engine.registry.get("plan", tenant, "current")
        plan = plan_named(row["plan"] if row else engine.settings.default_plan)
        if plan.send_caps(channel) == (None, None):
            return
        command_id = await intake.send_control(engine, tenant, "sendquota.reserve", ACTOR, {
            "channel": channel, "units": units, "recipients": recipients,
            "key": f"{key}:{channel}"})
        outcome = await engine.registry.outcome(command_id, WAIT_SECONDS)
        if outcome is None:
            raise StepFailed(f"the {channel} quota could not be checked in time; will retry",
                             retryable=True)
        if not outcome["ok"]:
            raise StepFailed(str(outcome["message"]), retryable=False)

    return reserve
