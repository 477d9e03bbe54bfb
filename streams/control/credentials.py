"""Typed credential ops (reference 004): create, update, rotate, delete.

The API validates the data (schemas/credentials.py) and encrypts the secret
fields as one ciphertext before sending the command; a row keeps the public
fields, the names of the stored secret fields (to mask them in answers without
decrypting) and that ciphertext. The plan's credential cap is counted here, by
the tenant's single writer, so two concurrent creates cannot both pass it.
"""

from __future__ import annotations

from typing import Any

from schemas.credentials import CredentialError, resolve_type
from streams.control.base import Op, Rejected, Tx, required

MAX_NAME = 250


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The row fields every write carries, checked (the API checked them already)."""
    name = required(payload, "name")
    if not name.strip() or len(name) > MAX_NAME:
        raise Rejected(400, f"name must be 1-{MAX_NAME} characters", "name")
    try:
        ctype = resolve_type(required(payload, "type"))
    except CredentialError as exc:
        raise Rejected(400, exc.message, "type") from None
    public = required(payload, "public", dict)
    secret_names = required(payload, "secret_names", list)
    ciphertext = required(payload, "ciphertext")
    return {"name": name, "type": ctype.canonical, "public": public,
            "secret_names": sorted(str(n) for n in secret_names), "ciphertext": ciphertext,
            "key_id": payload.get("key_id")}


def _existing(tx: Tx, credential_id: str) -> dict[str, Any]:
    row = tx.get("credential", credential_id)
    if row is None:
        raise Rejected(404, f"credential {credential_id!r} not found")
    return row


def create(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    credential_id = required(payload, "id")
    fields = _fields(payload)
    if tx.get("credential", credential_id) is not None:
        raise Rejected(409, f"credential {credential_id!r} already exists", "id")
    plan = tx.plan
    if plan.credentials is not None and len(tx.entries("credential")) >= plan.credentials:
        raise Rejected(400, f"plan {plan.name} allows at most {plan.credentials} credentials "
                            f"(delete one first)", "plan.credentials")
    tx.put("credential", credential_id, {
        "id": credential_id, **fields, "created_ms": tx.now, "created_by": tx.actor,
        "updated_ms": tx.now, "updated_by": tx.actor})
    return {"id": credential_id}


def update(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Replace name, type and data; `base_updated_ms` refuses an edit of a stale read.

    The API merged the stored secrets it read into the new ciphertext: had another
    update landed in between, writing it would silently undo that update.
    """
    credential_id = required(payload, "id")
    row = _existing(tx, credential_id)
    base = payload.get("base_updated_ms")
    if base is not None and base != row["updated_ms"]:
        raise Rejected(409, f"credential {credential_id!r} changed meanwhile; retry")
    tx.put("credential", credential_id, {**row, **_fields(payload), "updated_ms": tx.now,
                                         "updated_by": tx.actor})
    return {"id": credential_id}


def rotate(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Re-encrypted secrets from `hopflow secrets rotate`, if still the ones it read."""
    credential_id = required(payload, "id")
    ciphertext = required(payload, "ciphertext")
    row = tx.get("credential", credential_id)
    if row is None or row["ciphertext"] != payload.get("previous"):
        return {"id": credential_id, "rotated": False}
    tx.put("credential", credential_id, {**row, "ciphertext": ciphertext,
                                         "key_id": payload.get("key_id")})
    return {"id": credential_id, "rotated": True}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    credential_id = required(payload, "id")
    _existing(tx, credential_id)
    tx.delete("credential", credential_id)
    return {"id": credential_id, "deleted": True}


OPS: dict[str, Op] = {"credential.create": create, "credential.update": update,
                      "credential.rotate": rotate, "credential.delete": delete}
