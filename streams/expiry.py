"""Ended runs leave the live runs table after a grace period.

The runs table holds live runs plus the recently ended, so a worker's
recovery time follows live runs, not history (the history store keeps the
rest). The owner of a partition remembers when its runs ended; once a
second it sends one `expire` command per partition with the runs that are
due, and the run agent tombstones them (only the agent may write its table).
After a rebalance or a restart the queues are rebuilt from the table.
"""

from __future__ import annotations

from collections import deque

from schemas import codec
from schemas import statuses as st
from streams.engine import Engine, now_ms

_COMMAND = codec("run_command")
MAX_BATCH = 1000  # run ids per expire command


class Expiry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.grace_ms = int(engine.settings.run_grace_seconds * 1000)
        self._queues: dict[int, deque[tuple[int, str]]] = {}
        self._owned: frozenset[int] | None = None

    def ended(self, partition: int, ended_ms: int, run_id: str) -> None:
        self._queues.setdefault(partition, deque()).append((ended_ms, run_id))

    def _owned_partitions(self) -> frozenset[int]:
        topic = self.engine.catalog.run_commands.name
        return frozenset(tp.partition for tp in self.engine.app.consumer.assignment()
                         if tp.topic == topic)

    def _rebuild(self, owned: frozenset[int]) -> None:
        ended = sorted((s["ended_ms"] or 0, s["partition"], run_id)
                       for run_id, s in list(self.engine.runs.items())
                       if s["status"] in st.TERMINAL and s["partition"] in owned)
        self._queues = {p: deque() for p in owned}
        for ended_ms, partition, run_id in ended:
            self._queues[partition].append((ended_ms, run_id))

    async def tick(self) -> None:
        if not self.engine.ready:
            return
        owned = self._owned_partitions()
        if owned != self._owned:
            self._rebuild(owned)
            self._owned = owned
        cutoff = now_ms() - self.grace_ms
        for partition, queue in self._queues.items():
            if partition not in owned:
                continue
            while queue and queue[0][0] <= cutoff:
                batch = []
                while queue and queue[0][0] <= cutoff and len(batch) < MAX_BATCH:
                    batch.append(queue.popleft()[1])
                await self.engine.run_commands.send(
                    key="expire", partition=partition, value=_COMMAND.encode({
                        "id": f"expire:{partition}:{cutoff}", "run_id": "", "tenant": "",
                        "ts_ms": now_ms(), "kind": "expire", "request": None,
                        "finished": None, "timer_token": None, "reason": None,
                        "workflow_id": None, "run_ids": batch}))


def register(engine: Engine) -> Expiry:
    expiry = Expiry(engine)

    @engine.app.timer(interval=1.0, name="run-expiry")
    async def expire_ended_runs() -> None:
        await expiry.tick()

    return expiry
