"""The control agent: applies registry commands, one tenant's in order, and answers each.

Every command ends with an outcome row (`outcome/<tenant>/last`) naming it,
which the worker that took the call waits for through its registry replica.
A command redelivered after a crash is recognised by the ids kept in that row
and only answered again, never re-applied (an update would add a version twice).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from schemas import DecodeError, codec
from schemas import workflow_events as we
from schemas.registry import entry_key, valid_tenant
from streams.control import (
    credentials,
    integrations,
    keys,
    ratelimit,
    schedules,
    secrets,
    usage,
    webhook_endpoints,
    webhooks,
    workflows,
)
from streams.control.base import Op, Rejected, Tx
from streams.engine import Engine, now_ms

log = logging.getLogger(__name__)
_COMMAND = codec("control_command")
RECENT_COMMANDS = 100  # per tenant: more than a crash can redeliver before a commit

OPS: dict[str, Op] = {**workflows.OPS, **keys.OPS, **secrets.OPS, **credentials.OPS,
                      **integrations.OPS, **usage.OPS, **webhooks.OPS, **ratelimit.OPS,
                      **webhook_endpoints.OPS, **schedules.OPS}


def register_ops(ops: dict[str, Op]) -> None:
    """Other domains (secrets, credentials, schedules...) add their ops here."""
    OPS.update(ops)


def apply(tx: Tx, op: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one op; the outcome body (writes stay in tx, and are dropped on a refusal)."""
    handler = OPS.get(op)
    try:
        if handler is None:
            raise Rejected(400, f"unknown op {op!r}", "op")
        result = handler(tx, payload)
    except Rejected as exc:
        tx.writes.clear()
        tx.events.clear()
        return {"command_id": tx.command_id, "ok": False, "status": exc.status,
                "message": exc.message, "field": exc.field}
    except Exception:  # a bug in an op must not stop the agent (and every tenant with it)
        log.exception("control op %s failed", op)
        tx.writes.clear()
        tx.events.clear()
        return {"command_id": tx.command_id, "ok": False, "status": 500,
                "message": "internal error", "field": None}
    return {"command_id": tx.command_id, "ok": True, "status": 200, "result": result}


def register(engine: Engine) -> None:
    table = engine.registry_table

    @engine.app.agent(engine.control_commands, name="control-agent")
    async def control_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                command = _COMMAND.decode(event.value)
                payload = orjson.loads(command["payload"])
                if not isinstance(payload, dict):
                    raise ValueError("payload is not a JSON object")
                if not valid_tenant(command["tenant"]):
                    raise ValueError(f"invalid tenant id {command['tenant']!r}")
            except (DecodeError, ValueError) as exc:
                await engine.dead_letter(event, f"bad control command: {exc}", kind="decode")
                continue
            tenant = command["tenant"]
            last_key = entry_key("outcome", tenant, "last")
            last = table.get(last_key)
            recent: list[str] = last["body"]["recent"] if last else []
            if command["id"] in recent:
                continue  # applied before a crash; its outcome row is already written
            tx = Tx(table, tenant, command["id"], command["actor"], now_ms(),
                    engine.settings.default_plan,
                    engine.settings.schedule_min_interval_seconds)
            outcome = apply(tx, command["op"], payload)
            tx.write_to(table)
            for item in tx.events:
                await engine.workflow_events.send(
                    key=f"{tenant}/{item.workflow_id}", value=we.encode(
                        event_id=f"{command['id']}:{item.type}", type=item.type, tenant=tenant,
                        workflow_id=item.workflow_id, version=item.version, time_ms=tx.now,
                        data={"op": command["op"], **item.data}))
            outcome["recent"] = [*recent[-(RECENT_COMMANDS - 1):], command["id"]]
            table[last_key] = {"kind": "outcome", "tenant": tenant, "id": "last",
                               "body": outcome, "command_id": command["id"],
                               "updated_ms": tx.now}
