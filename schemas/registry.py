"""Registry entries: the key scheme and the wire form of the registry table's rows."""

from __future__ import annotations

import re
from typing import Any

import orjson

from schemas.avro import codec

_ENTRY = codec("registry_entry")
# A tenant id is part of every entry key (and of topic keys), so '/' and spaces are out.
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def valid_tenant(tenant: str) -> bool:
    return bool(_TENANT.match(tenant))


def entry_key(kind: str, tenant: str, entry_id: str) -> str:
    return f"{kind}/{tenant}/{entry_id}"


def decode_entry(raw: bytes) -> dict[str, Any]:
    entry = _ENTRY.decode(raw)
    entry["body"] = orjson.loads(entry["body"])
    return entry


def encode_entry(entry: dict[str, Any]) -> bytes:
    return _ENTRY.encode({**entry, "body": orjson.dumps(entry["body"]).decode()})
