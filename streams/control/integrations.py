"""Integration ops (reference 002's `/api/workflows/integrations`): create, update, delete.

The API checks the config (steps/integrations/specs.py) and encrypts its
secret fields as one ciphertext, as for credentials; a row keeps the type,
the public config, the names of the secret fields and that ciphertext.
"""

from __future__ import annotations

from typing import Any

from steps.integrations.specs import TYPES
from streams.control.base import Op, Rejected, Tx, required

MAX_NAME = 250
MAX_PER_TENANT = 200  # the registry is read everywhere: keep a tenant's share bounded


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    name = required(payload, "name")
    if not name.strip() or len(name) > MAX_NAME:
        raise Rejected(400, f"name must be 1-{MAX_NAME} characters", "name")
    itype = required(payload, "type")
    if itype not in TYPES:
        raise Rejected(400, f"integration_type must be one of {', '.join(TYPES)}",
                       "integration_type")
    workflow_id = payload.get("workflow_id")
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise Rejected(400, "workflow_id must be a string", "workflow_id")
    return {"name": name, "type": itype, "workflow_id": workflow_id,
            "public": required(payload, "public", dict),
            "secret_names": sorted(str(n) for n in required(payload, "secret_names", list)),
            "ciphertext": required(payload, "ciphertext"), "key_id": payload.get("key_id")}


def _existing(tx: Tx, integration_id: str) -> dict[str, Any]:
    row = tx.get("integration", integration_id)
    if row is None:
        raise Rejected(404, f"integration {integration_id!r} not found")
    return row


def create(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    integration_id = required(payload, "id")
    fields = _fields(payload)
    if tx.get("integration", integration_id) is not None:
        raise Rejected(409, f"integration {integration_id!r} already exists", "id")
    if len(tx.entries("integration")) >= MAX_PER_TENANT:
        raise Rejected(400, f"at most {MAX_PER_TENANT} integrations per tenant", "id")
    tx.put("integration", integration_id, {
        "id": integration_id, **fields, "created_ms": tx.now, "created_by": tx.actor,
        "updated_ms": tx.now, "updated_by": tx.actor})
    return {"id": integration_id}


def update(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Replace the integration; `base_updated_ms` refuses an edit of a stale read."""
    integration_id = required(payload, "id")
    row = _existing(tx, integration_id)
    base = payload.get("base_updated_ms")
    if base is not None and base != row["updated_ms"]:
        raise Rejected(409, f"integration {integration_id!r} changed meanwhile; retry")
    tx.put("integration", integration_id, {**row, **_fields(payload), "updated_ms": tx.now,
                                           "updated_by": tx.actor})
    return {"id": integration_id}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    integration_id = required(payload, "id")
    _existing(tx, integration_id)
    tx.delete("integration", integration_id)
    return {"id": integration_id, "deleted": True}


OPS: dict[str, Op] = {"integration.create": create, "integration.update": update,
                      "integration.delete": delete}
