"""Secret ops: store, replace, re-encrypt and delete a tenant's named secrets.

Only ciphertext reaches these ops: the API encrypts with the worker's keyring
before sending the command, so no plaintext is ever on a Kafka topic.
`secret.rotate` swaps the ciphertext only if it is still the one the operator
read (`previous`), so a rotation racing a new write never undoes the write.
"""

from __future__ import annotations

import re
from typing import Any

from streams.control.base import Op, Rejected, Tx, required

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NAME_RULE = "letters, digits and _, not starting with a digit, at most 64 characters"
MAX_CIPHERTEXT_CHARS = 120_000  # a 64 KB value as a Fernet token is ~88 K characters
MAX_SECRETS = 1000  # per tenant: the registry is replicated to every worker


def valid_name(name: Any) -> bool:
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def _name(payload: dict[str, Any]) -> str:
    name = required(payload, "name")
    if not valid_name(name):
        raise Rejected(400, f"name must be {NAME_RULE}", "name")
    return name  # type: ignore[no-any-return]


def _ciphertext(payload: dict[str, Any]) -> str:
    ciphertext = required(payload, "ciphertext")
    if not ciphertext or len(ciphertext) > MAX_CIPHERTEXT_CHARS:
        raise Rejected(400, "ciphertext is empty or too large", "ciphertext")
    return ciphertext  # type: ignore[no-any-return]


def put(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Create or replace; the result says which."""
    name = _name(payload)
    ciphertext = _ciphertext(payload)
    old = tx.get("secret", name)
    if old is None and len(tx.entries("secret")) >= MAX_SECRETS:
        raise Rejected(400, f"a tenant may hold at most {MAX_SECRETS} secrets", "name")
    tx.put("secret", name, {
        "name": name, "ciphertext": ciphertext, "key_id": payload.get("key_id"),
        "created_ms": tx.now if old is None else old["created_ms"],
        "created_by": tx.actor if old is None else old["created_by"],
        "updated_ms": tx.now, "updated_by": tx.actor})
    return {"name": name, "created": old is None}


def rotate(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    """Re-encrypted ciphertext from `hopflow secrets rotate`; dates and authors stay."""
    name = _name(payload)
    ciphertext = _ciphertext(payload)
    old = tx.get("secret", name)
    if old is None or old["ciphertext"] != payload.get("previous"):
        return {"name": name, "rotated": False}  # deleted or rewritten meanwhile
    tx.put("secret", name, {**old, "ciphertext": ciphertext, "key_id": payload.get("key_id")})
    return {"name": name, "rotated": True}


def delete(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    name = _name(payload)
    if tx.get("secret", name) is None:
        raise Rejected(404, f"secret {name!r} not found", "name")
    tx.delete("secret", name)
    return {"name": name, "deleted": True}


OPS: dict[str, Op] = {"secret.put": put, "secret.rotate": rotate, "secret.delete": delete}
