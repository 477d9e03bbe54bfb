"""Ingest tokens: one per workflow, stored as a SHA-256, found by that hash from any tenant.

Two rows per token: `webhook/<tenant>/<workflow id>` (the workflow's ingest
settings: token hash, a masked hint, optional Standard Webhooks secret as
ciphertext) and `ingesttoken/<tenant>/<sha256>` ({tenant, workflow_id}), the
index the public ingest URL is resolved with (streams/registry.py finds
ingesttoken rows by id alone). Rotating deletes the old index row, so the old
URL answers 404 from the next registry read on. Issuing without `rotate` keeps
an existing token, so two concurrent first GETs make one token, not two.
"""

from __future__ import annotations

from typing import Any

from streams.control.base import Op, Rejected, Tx, required

VERIFY_MODES = ("keep", "on", "off")


def public(row: dict[str, Any]) -> dict[str, Any]:
    """What an answer may show of a webhook row (never the hash's secret or the ciphertext)."""
    return {"workflow_id": row["workflow_id"], "token_id": row["token_hash"][:12],
            "hint": row["hint"], "verify": row["ciphertext"] is not None,
            "created_ms": row["created_ms"]}


def issue(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Make the workflow's token (or, with `rotate`, replace it); `verify`: keep, on or off."""
    workflow_id = required(payload, "workflow_id")
    if tx.get("workflow", workflow_id) is None:
        raise Rejected(404, f"workflow {workflow_id!r} not found")
    token_hash = required(payload, "token_hash")
    mode = payload.get("verify", "keep")
    if mode not in VERIFY_MODES:
        raise Rejected(400, "verify must be keep, on or off", "verify")
    row = tx.get("webhook", workflow_id)
    if row is not None and not payload.get("rotate"):
        return {**public(row), "created": False}
    if mode == "on":
        ciphertext, key_id = required(payload, "ciphertext"), payload.get("key_id")
    elif mode == "off" or row is None:
        ciphertext, key_id = None, None
    else:
        ciphertext, key_id = row["ciphertext"], row.get("key_id")
    if row is not None:
        tx.delete("ingesttoken", row["token_hash"])
    tx.put("ingesttoken", token_hash, {"tenant": tx.tenant, "workflow_id": workflow_id})
    new = {"workflow_id": workflow_id, "token_hash": token_hash,
           "hint": required(payload, "hint"), "ciphertext": ciphertext, "key_id": key_id,
           "created_ms": tx.now, "created_by": tx.actor}
    tx.put("webhook", workflow_id, new)
    return {**public(new), "created": True}


OPS: dict[str, Op] = {"webhook.token": issue}
