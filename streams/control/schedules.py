"""Schedule ops: one cron schedule per workflow, a registry row `schedule/<tenant>/<workflow>`.

The row is written by the tenant's single writer, so the API's edits, a
definition's `trigger: {type: schedule}` and the ticker's progress (`cursor_s`,
the last slot handled, in epoch seconds) are applied in one order. The cursor
lives here, on the compacted registry, so it survives restarts and leader changes.

Definition and API: saving a definition whose trigger is a schedule writes the
row (source `definition`); the API's POST/PUT write it too (source `api`); the
last write wins. A definition saved without a schedule trigger removes a row the
definition made, and leaves one made through the API alone.
"""

from __future__ import annotations

from typing import Any

from streams.control.base import Op, Rejected, Tx, required
from streams.triggers import slots

KIND = "schedule"


def _checked(tx: Tx, expression: Any, timezone: Any, *, names: dict[str, str] | None = None
             ) -> None:
    """Rejected 400 naming the field (`names` maps to the definition's field names)."""
    try:
        slots.parse(expression, timezone, tx.schedule_min_interval_s)
    except slots.ScheduleInvalid as exc:
        raise Rejected(400, exc.message, (names or {}).get(exc.field, exc.field)) from None


def _write(tx: Tx, workflow_id: str, row: dict[str, Any] | None, expression: str,
           timezone: str, enabled: bool, catch_up: str, source: str) -> dict[str, Any]:
    """Upsert; the cursor restarts at now when what fires changes (no catch-up of old slots)."""
    now_s = tx.now // 1000
    same = (row is not None and row["cron_expression"] == expression
            and row["timezone"] == timezone and (row["enabled"] or not enabled))
    body = {
        "workflow_id": workflow_id, "cron_expression": expression, "timezone": timezone,
        "enabled": enabled, "catch_up": catch_up, "source": source,
        "cursor_s": row["cursor_s"] if same and row is not None else now_s,
        "last_run_id": row.get("last_run_id") if row else None,
        "last_fired_s": row.get("last_fired_s") if row else None,
        "last_refusal": row.get("last_refusal") if row else None,
        "created_ms": row["created_ms"] if row else tx.now, "updated_ms": tx.now,
        "updated_by": tx.actor}
    tx.put(KIND, workflow_id, body)
    return body


def put(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Create (`create: true`, 409 if one exists) or update (404 if none) a workflow's schedule."""
    workflow_id = required(payload, "workflow_id")
    if tx.get("workflow", workflow_id) is None:
        raise Rejected(404, f"workflow {workflow_id!r} not found")
    row = tx.get(KIND, workflow_id)
    if payload.get("create") and row is not None:
        raise Rejected(409, f"workflow {workflow_id!r} already has a schedule; PUT to change it")
    if not payload.get("create") and row is None:
        raise Rejected(404, f"workflow {workflow_id!r} has no schedule")
    expression = " ".join(required(payload, "cron_expression").split())
    timezone = required(payload, "timezone")
    catch_up = payload.get("catch_up", slots.RUN_ONCE)
    if catch_up not in slots.CATCH_UP:
        raise Rejected(400, "catch_up must be skip or run_once", "catch_up")
    _checked(tx, expression, timezone)
    _write(tx, workflow_id, row, expression, timezone, payload.get("enabled") is not False,
           catch_up, "api")
    return {"workflow_id": workflow_id}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    workflow_id = required(payload, "workflow_id")
    if tx.get(KIND, workflow_id) is None:
        raise Rejected(404, f"workflow {workflow_id!r} has no schedule")
    tx.delete(KIND, workflow_id)
    return {"workflow_id": workflow_id, "deleted": True}


def fired(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """The ticker handled slots up to `cursor_s` (a run id, or why nothing started)."""
    workflow_id = required(payload, "workflow_id")
    cursor = required(payload, "cursor_s", int)
    row = tx.get(KIND, workflow_id)
    if row is None or cursor <= row["cursor_s"]:
        return {"workflow_id": workflow_id, "moved": False}  # deleted, or a late duplicate
    body = {**row, "cursor_s": cursor}
    if payload.get("slot_s") is not None:
        body.update(last_fired_s=payload["slot_s"], last_run_id=payload.get("run_id"),
                    last_refusal=payload.get("refusal"))
    tx.put(KIND, workflow_id, body)
    return {"workflow_id": workflow_id, "moved": True}


def sync_definition(tx: Tx, workflow_id: str, definition: dict[str, Any]) -> None:
    """A saved definition's `trigger: {type: schedule, cron, timezone}` becomes the row."""
    trigger = definition.get("trigger")
    row = tx.get(KIND, workflow_id)
    if not isinstance(trigger, dict) or trigger.get("type") not in ("schedule", "scheduled"):
        if row is not None and row.get("source") == "definition":
            tx.delete(KIND, workflow_id)
        return
    expression = trigger.get("cron", trigger.get("cron_expression"))
    timezone = trigger.get("timezone", "UTC")
    _checked(tx, expression, timezone,
             names={"cron_expression": "trigger.cron", "timezone": "trigger.timezone"})
    catch_up = trigger.get("catch_up", slots.RUN_ONCE)
    if catch_up not in slots.CATCH_UP:
        raise Rejected(400, "catch_up must be skip or run_once", "trigger.catch_up")
    _write(tx, workflow_id, row, " ".join(str(expression).split()), timezone,
           trigger.get("enabled") is not False, catch_up, "definition")


OPS: dict[str, Op] = {"schedule.put": put, "schedule.delete": delete, "schedule.fired": fired}
