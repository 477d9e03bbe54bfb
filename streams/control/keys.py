"""API key ops and the tenant's plan. The key itself never reaches Kafka: only its hash."""

from __future__ import annotations

from typing import Any

from schemas.plans import PLANS
from streams.control.base import Op, Rejected, Tx, required

ROLES = ("member", "admin", "owner")


def create_key(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    key_id = required(payload, "key_id")
    role = required(payload, "role")
    if role not in ROLES:
        raise Rejected(400, f"role must be one of {', '.join(ROLES)}", "role")
    if tx.get("apikey", key_id) is not None:
        raise Rejected(409, "key id already in use", "key_id")
    tx.put("apikey", key_id, {
        "key_id": key_id, "hash": required(payload, "hash"), "role": role,
        "name": payload.get("name") or "", "created_ms": tx.now, "created_by": tx.actor,
        "revoked_ms": None})
    return {"key_id": key_id, "role": role}


def revoke_key(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    key_id = required(payload, "key_id")
    key = tx.get("apikey", key_id)
    if key is None:
        raise Rejected(404, f"key {key_id!r} not found")
    if key["revoked_ms"] is None:
        tx.put("apikey", key_id, {**key, "revoked_ms": tx.now, "revoked_by": tx.actor})
    return {"key_id": key_id, "revoked": True}


def set_plan(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    plan = required(payload, "plan")
    if plan not in PLANS:
        raise Rejected(400, f"plan must be one of {', '.join(PLANS)}", "plan")
    tx.put("plan", "current", {"plan": plan, "set_ms": tx.now, "set_by": tx.actor})
    return {"plan": plan}


OPS: dict[str, Op] = {"key.create": create_key, "key.revoke": revoke_key,
                      "tenant.set_plan": set_plan}
