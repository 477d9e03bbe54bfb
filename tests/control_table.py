"""A dict standing in for the registry table, so control ops are tested without Kafka."""

from __future__ import annotations

from typing import Any

from streams.control.agent import apply
from streams.control.base import Tx


class Table(dict):  # type: ignore[type-arg]
    """The registry table; `run` applies a command and commits its writes as the agent does."""

    n = 0

    def run(self, op: str, payload: dict[str, Any], *, tenant: str = "t", plan: str = "paid",
            actor: str = "key:k1") -> dict[str, Any]:
        Table.n += 1
        tx = Tx(self, tenant, f"c{Table.n}", actor, 1000 + Table.n, plan)
        outcome = apply(tx, op, payload)
        tx.write_to(self)
        self.last_events = tx.events
        return outcome

    def body(self, key: str) -> dict[str, Any]:
        return self[key]["body"]  # type: ignore[no-any-return]
