"""The public shapes of platform-events and monitor-events records, and their checks.

Both topics carry JSON (a public contract for upstream services, documented in
the README), keyed by tenant. One parser serves the Kafka agent (a bad record is
dead-lettered with the reason) and POST /api/events (a 400 naming the field).
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_ID = 255
MAX_TYPE = 200


class BadEvent(ValueError):
    """Why a record is not a usable event; `field` names the attribute."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True
          ) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadEvent(f"{name} is required and must be a non-empty string", name)
    if len(value) > limit:
        raise BadEvent(f"{name} must be at most {limit} characters", name)
    return value


def _object(raw: bytes | Any) -> dict[str, Any]:
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadEvent(f"not JSON: {exc}", "body") from None
    if not isinstance(raw, dict):
        raise BadEvent("an event must be a JSON object", "body")
    return raw


def platform_event(raw: bytes | Any) -> dict[str, Any]:
    """A CloudEvents-shaped platform event: id, type, tenant required; source, time strings."""
    body = _object(raw)
    _text(body, "id", MAX_ID)
    _text(body, "type", MAX_TYPE)
    _text(body, "tenant", MAX_ID)
    _text(body, "source", 1000, required=False)
    _text(body, "time", 64, required=False)
    _text(body, "specversion", 16, required=False)
    return body


def monitor_event(raw: bytes | Any) -> dict[str, Any]:
    """A monitor's change: id, tenant, monitor_id, change_type required; data anything."""
    body = _object(raw)
    _text(body, "id", MAX_ID)
    _text(body, "tenant", MAX_ID)
    _text(body, "monitor_id", MAX_ID)
    _text(body, "change_type", MAX_TYPE)
    _text(body, "time", 64, required=False)
    return body
