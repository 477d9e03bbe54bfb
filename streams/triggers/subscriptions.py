"""Which workflows an event starts: (tenant, kind, key) -> {workflow id: filter}.

Events and monitor events are matched against this index, so matching one
costs O(workflows subscribed to that event type or monitor), never a scan of
every workflow. It is kept from the registry replica (streams/registry.py
calls `refresh` as workflow heads and version rows stream in) and holds only
runnable workflows: enabled, not archived, the trigger taken from the version
a new run would start on (published, else latest). Pure: no Kafka here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

EVENT = "event"
MONITOR = "monitor_event"
_MISSING = object()


@dataclass(frozen=True)
class Subscription:
    """One workflow's interest: `filters` on the event's data, `change_types` for monitors."""

    workflow_id: str
    filters: dict[str, Any]
    change_types: frozenset[str] | None = None


def subscription_of(workflow_id: str, trigger: Any) -> tuple[str, str, Subscription] | None:
    """(kind, key, subscription) for an event or monitor trigger; None for any other trigger."""
    if not isinstance(trigger, dict):
        return None
    filters = trigger.get("filters")
    filters = filters if isinstance(filters, dict) else {}
    if trigger.get("type") == EVENT and isinstance(trigger.get("event"), str):
        return EVENT, trigger["event"], Subscription(workflow_id, filters)
    if trigger.get("type") == MONITOR and isinstance(trigger.get("monitor_id"), str):
        changes = trigger.get("change_types")
        wanted = frozenset(c for c in changes if isinstance(c, str)) \
            if isinstance(changes, list) and changes else None
        return MONITOR, trigger["monitor_id"], Subscription(workflow_id, filters, wanted)
    return None


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def matches(filters: dict[str, Any], data: Any) -> bool:
    """Every filter holds: equality on a dotted path of `data`; a list means any of its values."""
    for path, wanted in filters.items():
        found = _at(data, path)
        if found is _MISSING:
            return False
        if isinstance(wanted, list):
            if found not in wanted:
                return False
        elif found != wanted:
            return False
    return True


class Subscriptions:
    """The index; `where` remembers each workflow's place so a change moves it in O(1)."""

    def __init__(self) -> None:
        self._index: dict[tuple[str, str, str], dict[str, Subscription]] = {}
        self._where: dict[tuple[str, str], tuple[str, str, str]] = {}

    def set(self, tenant: str, workflow_id: str, trigger: Any) -> None:
        """The workflow's trigger now (None: not runnable or not an event trigger)."""
        self.remove(tenant, workflow_id)
        found = subscription_of(workflow_id, trigger)
        if found is None:
            return
        kind, key, sub = found
        place = (tenant, kind, key)
        self._index.setdefault(place, {})[workflow_id] = sub
        self._where[(tenant, workflow_id)] = place

    def remove(self, tenant: str, workflow_id: str) -> None:
        place = self._where.pop((tenant, workflow_id), None)
        if place is None:
            return
        bucket = self._index.get(place)
        if bucket is not None:
            bucket.pop(workflow_id, None)
            if not bucket:
                del self._index[place]

    def subscribed(self, tenant: str, kind: str, key: str) -> list[Subscription]:
        return list(self._index.get((tenant, kind, key), {}).values())

    def for_event(self, tenant: str, event_type: str, data: Any) -> list[str]:
        """Workflow ids an event of this type and data starts."""
        return [s.workflow_id for s in self.subscribed(tenant, EVENT, event_type)
                if matches(s.filters, data)]

    def for_monitor(self, tenant: str, monitor_id: str, change_type: str, data: Any
                    ) -> list[str]:
        return [s.workflow_id for s in self.subscribed(tenant, MONITOR, monitor_id)
                if (s.change_types is None or change_type in s.change_types)
                and matches(s.filters, data)]

    def refresh(self, tenant: str, workflow_id: str, head: dict[str, Any] | None,
                version: dict[str, Any] | None) -> None:
        """Re-index one workflow from its head and the version a new run would start on."""
        if head is None or version is None or not head.get("enabled") \
                or head.get("status") == "archived":
            self.remove(tenant, workflow_id)
            return
        definition = version.get("definition")
        if not isinstance(definition, str) or '"trigger"' not in definition:
            self.remove(tenant, workflow_id)
            return
        try:
            trigger = orjson.loads(definition).get("trigger")
        except (orjson.JSONDecodeError, AttributeError):
            trigger = None
        self.set(tenant, workflow_id, trigger)


def target_number(head: dict[str, Any]) -> int:
    """The version number a new run starts on (as streams/triggers/launch.target)."""
    return head["published"] if head.get("published") is not None else head["latest"]
