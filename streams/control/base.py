"""What an op sees: the tenant's registry rows (with its own writes), its plan, its events.

Ops are plain functions of (Tx, payload) -> result, so they are tested without
Kafka; the agent commits a Tx's writes only when the op did not reject the
command, so a refused change leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from schemas.plans import Plan, plan_named
from schemas.registry import entry_key

_DELETED = object()


class Rejected(Exception):
    """The command is refused; status, message and field go back to the caller."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass
class Event:
    """A workflow lifecycle event (the audit trail's source)."""

    type: str
    workflow_id: str
    version: int
    data: dict[str, Any]


@dataclass
class Tx:
    """One command's view of a tenant's registry rows."""

    rows: Mapping[str, Any]  # the registry table (key -> entry)
    tenant: str
    command_id: str
    actor: str
    now: int
    default_plan: str = "free"
    schedule_min_interval_s: int = 60  # the deployment's setting (streams/control/schedules.py)
    writes: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def get(self, kind: str, entry_id: str) -> dict[str, Any] | None:
        key = entry_key(kind, self.tenant, entry_id)
        if key in self.writes:
            written = self.writes[key]
            return None if written is _DELETED else written["body"]
        entry = self.rows.get(key)
        return None if entry is None else entry["body"]

    def entries(self, kind: str) -> dict[str, dict[str, Any]]:
        """id -> body of this tenant's rows of one kind (a scan: control ops are rare)."""
        prefix = entry_key(kind, self.tenant, "")
        found = {k[len(prefix):]: e["body"] for k, e in self.rows.items()
                 if k.startswith(prefix)}
        for key, written in self.writes.items():
            if key.startswith(prefix):
                if written is _DELETED:
                    found.pop(key[len(prefix):], None)
                else:
                    found[key[len(prefix):]] = written["body"]
        return found

    def put(self, kind: str, entry_id: str, body: dict[str, Any]) -> None:
        self.writes[entry_key(kind, self.tenant, entry_id)] = {
            "kind": kind, "tenant": self.tenant, "id": entry_id, "body": body,
            "command_id": self.command_id, "updated_ms": self.now}

    def delete(self, kind: str, entry_id: str) -> None:
        self.writes[entry_key(kind, self.tenant, entry_id)] = _DELETED

    def emit(self, type: str, workflow_id: str, version: int, data: dict[str, Any]) -> None:
        self.events.append(Event(type, workflow_id, version, {"actor": self.actor, **data}))

    @property
    def plan(self) -> Plan:
        row = self.get("plan", "current")
        return plan_named(row["plan"] if row else self.default_plan)

    def write_to(self, table: MutableMapping[str, Any]) -> None:
        """Apply this command's writes to the registry table, in write order."""
        for key, written in self.writes.items():
            if written is _DELETED:
                table.pop(key, None)
            else:
                table[key] = written


Op = Callable[[Tx, dict[str, Any]], dict[str, Any]]


def required(payload: dict[str, Any], name: str, kind: type = str) -> Any:
    """A payload field the API always sends; missing means a bad command, not bad input."""
    value = payload.get(name)
    if not isinstance(value, kind):
        raise Rejected(400, f"{name} is required", name)
    return value
