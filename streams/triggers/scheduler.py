"""The schedule ticker: once a second, on the leader only, start the runs whose slot came.

Exactly once per slot, however many workers run: only the leader ticks, and
the run id is derived from `schedule:<workflow>:<slot epoch>`, so even two
leaders during a rebalance (or a leader that fired and died before recording
it) name the same run, which the run agent starts once. After a slot is
handled, the cursor moves through the control agent (`schedule.fired`), so a
restart or a new leader resumes from the registry, not from memory.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache

from streams import intake, metrics
from streams.control.schedules import KIND
from streams.engine import Engine
from streams.triggers import slots
from streams.triggers.launch import Launch, Refused, launch

log = logging.getLogger(__name__)
TICK_S = 1.0
ACTOR = "schedule"


@lru_cache(maxsize=4096)
def _cron(expression: str, timezone: str) -> slots.Cron:
    """A stored row was validated when written; only parse it (no interval sampling)."""
    return slots.Cron(expression, slots.zone_named(timezone), len(expression.split()) == 6)


def idempotency_key(workflow_id: str, slot: datetime) -> str:
    return f"schedule:{workflow_id}:{int(slot.timestamp())}"


class Scheduler:
    """Keeps the cursors it sent until the registry replica shows them (no double send)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: dict[tuple[str, str], int] = {}

    async def tick(self, now: datetime | None = None) -> None:
        registry = self.engine.registry
        if not registry.caught_up.is_set():
            return  # a stale cursor would re-fire a slot whose run may already be gone
        now = now or datetime.now(UTC)
        for tenant, workflow_id, row in registry.every(KIND):
            if not row["enabled"]:
                continue
            key = (tenant, workflow_id)
            cursor_s = max(row["cursor_s"], self.sent.get(key, 0))
            try:
                await self._one(tenant, workflow_id, row, cursor_s, now)
            except Exception:  # one schedule's failure must not stop the others
                log.exception("schedule %s/%s: tick failed; retried next tick",
                              tenant, workflow_id)

    async def _one(self, tenant: str, workflow_id: str, row: dict, cursor_s: int,
                   now: datetime) -> None:
        cron = _cron(row["cron_expression"], row["timezone"])
        cursor = datetime.fromtimestamp(cursor_s, UTC)
        due = slots.due(cron, cursor, now, row["catch_up"])
        if due is None:
            return
        fired: dict = {"workflow_id": workflow_id, "cursor_s": int(due.cursor.timestamp())}
        if due.slot is not None:
            fired["slot_s"] = int(due.slot.timestamp())
            try:
                fired["run_id"] = await launch(self.engine, Launch(
                    tenant=tenant, workflow_id=workflow_id, trigger="schedule",
                    idempotency_key=idempotency_key(workflow_id, due.slot), actor=ACTOR,
                    input={"scheduledAt": slots.iso(due.slot, cron.zone),
                           "schedule": {"cron_expression": row["cron_expression"],
                                        "timezone": row["timezone"]}}))
            except Refused as exc:
                if exc.status == 503:  # replica catching up: the slot stays due, retried
                    return
                # recorded on the row and counted, not silently dropped
                metrics.RUNS_REFUSED.labels(reason=exc.reason).inc()
                log.warning("schedule %s/%s: slot %s not started: %s", tenant, workflow_id,
                            fired["slot_s"], exc.message)
                fired["refusal"] = f"{exc.status}: {exc.message}"
        await intake.send_control(self.engine, tenant, "schedule.fired", ACTOR, fired)
        self.sent[(tenant, workflow_id)] = fired["cursor_s"]


def register(engine: Engine) -> Scheduler:
    scheduler = Scheduler(engine)

    @engine.app.timer(interval=TICK_S, on_leader=True, name="schedule-ticker")
    async def schedule_ticker() -> None:
        await scheduler.tick()

    return scheduler
