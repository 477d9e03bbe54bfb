"""Outbound webhook endpoint ops: create, update, rotate the secret, disable, delete.

Registry kind `webhook_endpoint` (`webhook` rows are a workflow's ingest settings).

A row keeps the URL, the subscribed event types, an optional workflow filter,
`enabled` with the reason it was disabled, and the signing secret encrypted
(engine.keyring) by the API; it is never stored or answered in clear.
"""

from __future__ import annotations

from typing import Any

from streams.control.base import Op, Rejected, Tx, required

KIND = "webhook_endpoint"
MAX_ENDPOINTS = 20  # per tenant: each endpoint is one more delivery per event


def _existing(tx: Tx, endpoint_id: str) -> dict[str, Any]:
    row = tx.get(KIND, endpoint_id)
    if row is None:
        raise Rejected(404, f"webhook {endpoint_id!r} not found")
    return row


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    types = required(payload, "event_types", list)
    if not types:
        raise Rejected(400, "event_types must name at least one event type", "event_types")
    return {"url": required(payload, "url"), "event_types": [str(t) for t in types],
            "workflow_id": payload.get("workflow_id"),
            "enabled": bool(payload.get("enabled", True))}


def create(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = required(payload, "id")
    if tx.get(KIND, endpoint_id) is not None:
        raise Rejected(409, f"webhook {endpoint_id!r} already exists", "id")
    if len(tx.entries(KIND)) >= MAX_ENDPOINTS:
        raise Rejected(400, f"at most {MAX_ENDPOINTS} webhook endpoints per tenant", "url")
    tx.put(KIND, endpoint_id, {
        "id": endpoint_id, **_fields(payload), "disabled_reason": None,
        "ciphertext": required(payload, "ciphertext"), "key_id": payload.get("key_id"),
        "created_ms": tx.now, "created_by": tx.actor, "updated_ms": tx.now,
        "updated_by": tx.actor})
    return {"id": endpoint_id}


def update(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """New settings; enabling again clears the reason it was disabled."""
    endpoint_id = required(payload, "id")
    row = _existing(tx, endpoint_id)
    fields = _fields(payload)
    reason = None if fields["enabled"] else row.get("disabled_reason")
    tx.put(KIND, endpoint_id, {**row, **fields, "disabled_reason": reason,
                               "updated_ms": tx.now, "updated_by": tx.actor})
    return {"id": endpoint_id}


def rotate(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = required(payload, "id")
    row = _existing(tx, endpoint_id)
    tx.put(KIND, endpoint_id, {**row, "ciphertext": required(payload, "ciphertext"),
                               "key_id": payload.get("key_id"), "updated_ms": tx.now,
                               "updated_by": tx.actor})
    return {"id": endpoint_id}


def disable(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Sent by the deliverer when an endpoint keeps failing; the reason is shown on it."""
    endpoint_id = required(payload, "id")
    row = tx.get(KIND, endpoint_id)
    if row is None:
        return {"id": endpoint_id, "disabled": False}
    tx.put(KIND, endpoint_id, {**row, "enabled": False,
                               "disabled_reason": str(required(payload, "reason"))[:500],
                               "updated_ms": tx.now, "updated_by": tx.actor})
    return {"id": endpoint_id, "disabled": True}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = required(payload, "id")
    _existing(tx, endpoint_id)
    tx.delete(KIND, endpoint_id)
    return {"id": endpoint_id, "deleted": True}


OPS: dict[str, Op] = {"webhook_endpoint.create": create, "webhook_endpoint.update": update,
                      "webhook_endpoint.rotate": rotate, "webhook_endpoint.disable": disable,
                      "webhook_endpoint.delete": delete}
