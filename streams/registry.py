"""The registry as every worker reads it: a replica of the registry changelog, indexed.

The registry holds each tenant's small, read-everywhere records: workflows
and their immutable versions, API keys (hashed), the plan, secrets (encrypted)
and credentials. Only the control agent writes it (streams/control); every
worker follows its changelog, so an API key made through one worker works on
all of them a few milliseconds later.

Entries are keyed `<kind>/<tenant>/<id>`. Reads are dict lookups; listing a
tenant's entries of one kind uses an index kept as records stream in, so no
request scans the whole registry.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from schemas.registry import decode_entry, entry_key
from streams.replica import ChangelogReplica
from streams.triggers.subscriptions import Subscriptions, target_number

OUTCOMES_KEPT = 10_000  # answers to recent commands, for callers waiting on them
# Kinds found by id alone, whatever the tenant: an ingest URL names a token, not a tenant.
GLOBAL_KINDS = frozenset({"ingesttoken"})


class Registry(ChangelogReplica):
    """key -> entry, plus (kind, tenant) -> {id: entry} and the outcomes of recent commands."""

    def __init__(self, bootstrap: str, topic: str, **kwargs: Any) -> None:
        super().__init__(bootstrap, topic, decode_entry, **kwargs)  # security= in kwargs
        self._index: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._global: dict[tuple[str, str], dict[str, Any]] = {}
        self.outcomes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # (tenant, event type / monitor id) -> subscribed workflows, for the event agents
        self.subscriptions = Subscriptions()

    def on_record(self, key: str, old: Any, new: Any) -> None:
        entry = new if new is not None else old
        if entry is None:
            return
        if entry["kind"] == "outcome":
            if new is not None:
                answer = {k: v for k, v in new["body"].items() if k != "recent"}
                self.outcomes[answer["command_id"]] = answer
                while len(self.outcomes) > OUTCOMES_KEPT:
                    self.outcomes.popitem(last=False)
            return
        group = (entry["kind"], entry["tenant"])
        if entry["kind"] in GLOBAL_KINDS:
            if new is None:
                self._global.pop((entry["kind"], entry["id"]), None)
            else:
                self._global[(entry["kind"], entry["id"])] = new
        if new is None:
            found = self._index.get(group)
            if found is not None:
                found.pop(entry["id"], None)
                if not found:
                    del self._index[group]
        else:
            self._index.setdefault(group, {})[entry["id"]] = new
        if entry["kind"] in ("workflow", "version"):
            self._resubscribe(entry, new)

    def _resubscribe(self, entry: dict[str, Any], new: dict[str, Any] | None) -> None:
        """Re-index a workflow's event trigger as its head or one of its versions changes.

        Called before the replica stores `new`, so the changed row is taken from `new`.
        """
        tenant = entry["tenant"]
        if entry["kind"] == "workflow":
            workflow_id = entry["id"]
            head = None if new is None else new["body"]
        else:
            workflow_id, _, number = entry["id"].rpartition(":")
            head = self.get("workflow", tenant, workflow_id)
            if head is None or str(target_number(head)) != number:
                return  # not the version a new run starts on
        version = None
        if head is not None:
            version_id = f"{workflow_id}:{target_number(head)}"
            if entry["kind"] == "version":
                version = None if new is None else new["body"]
            else:
                version = self.get("version", tenant, version_id)
        self.subscriptions.refresh(tenant, workflow_id, head, version)

    def get(self, kind: str, tenant: str, entry_id: str) -> dict[str, Any] | None:
        """The entry's body, or None."""
        entry = self.data.get(entry_key(kind, tenant, entry_id))
        return None if entry is None else entry["body"]

    def lookup(self, kind: str, entry_id: str) -> tuple[str, dict[str, Any]] | None:
        """(tenant, body) of a GLOBAL_KINDS entry found by its id alone, or None."""
        entry = self._global.get((kind, entry_id))
        return None if entry is None else (entry["tenant"], entry["body"])

    def entries(self, kind: str, tenant: str) -> dict[str, dict[str, Any]]:
        """id -> body of a tenant's entries of one kind (a fresh dict)."""
        return {i: e["body"] for i, e in self._index.get((kind, tenant), {}).items()}

    def every(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(tenant, id, body) of every tenant's entries of one kind (the schedule ticker's scan).

        Walks the (kind, tenant) groups, not the entries of other kinds.
        """
        return [(tenant, i, e["body"]) for (k, tenant), group in list(self._index.items())
                if k == kind for i, e in group.items()]

    def any(self, kind: str) -> bool:
        """Whether any tenant has an entry of this kind (walks groups, not entries)."""
        return any(k == kind for k, _ in self._index)

    def count(self, kind: str, tenant: str) -> int:
        return len(self._index.get((kind, tenant), ()))

    async def outcome(self, command_id: str, timeout: float) -> dict[str, Any] | None:
        """The control agent's answer to a command, once this worker has read it."""
        found = await self.wait_for(lambda _: command_id in self.outcomes, timeout)
        return self.outcomes.get(command_id) if found else None

    async def wait_caught_up(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.caught_up.wait(), timeout)
            return True
        except TimeoutError:
            return False
