"""Durable timers: delays and retry backoff, fired by the worker owning the run.

The timers table (changelog-backed, keyed by run id) is the truth; a heap in
memory only says what is due next. The heap is rebuilt from the table every
few seconds, so partitions gained in a rebalance or recovered after a crash
get their timers back. Firing sends TimerFired to the run's own partition;
the run agent accepts it only if the token still matches, so a timer fired
twice moves the run once.
"""

from __future__ import annotations

import heapq
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from schemas import codec
from streams import metrics
from streams.engine import Engine, now_ms

_COMMAND = codec("run_command")
RESCAN_MS = 2000


class TimerService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._heap: list[tuple[int, str, str]] = []
        self._fired: dict[str, str] = {}
        self._last_scan = 0
        self._partitioner = DefaultPartitioner()

    def schedule(self, timer: dict[str, Any]) -> None:
        heapq.heappush(self._heap, (timer["due_ms"], timer["run_id"], timer["token"]))

    def _owned_partitions(self) -> set[int]:
        topic = self.engine.catalog.run_commands.name
        return {tp.partition for tp in self.engine.app.consumer.assignment() if tp.topic == topic}

    def _rescan(self) -> None:
        owned = self._owned_partitions()
        partitions = list(range(self.engine.settings.partitions))
        heap = []
        live: dict[str, str] = {}
        for run_id, timer in list(self.engine.timers.items()):
            if self._partitioner(run_id.encode(), partitions, partitions) not in owned:
                continue
            live[run_id] = timer["token"]
            if self._fired.get(run_id) != timer["token"]:
                heap.append((timer["due_ms"], run_id, timer["token"]))
        heapq.heapify(heap)
        metrics.TIMERS_PENDING.set(len(live))  # every RESCAN_MS, off the run path
        self._heap = heap
        self._fired = {k: v for k, v in self._fired.items() if live.get(k) == v}

    async def tick(self) -> None:
        now = now_ms()
        if now - self._last_scan >= RESCAN_MS:
            self._rescan()
            self._last_scan = now
        while self._heap and self._heap[0][0] <= now:
            _, run_id, token = heapq.heappop(self._heap)
            timer = self.engine.timers.get(run_id)
            if timer is None or timer["token"] != token or self._fired.get(run_id) == token:
                continue
            self._fired[run_id] = token
            await self.engine.run_commands.send(key=run_id, value=_COMMAND.encode({
                "id": f"timer:{token}", "run_id": run_id, "tenant": timer["tenant"],
                "ts_ms": now, "kind": "timer_fired", "request": None, "finished": None,
                "timer_token": token, "reason": None}))


def register(engine: Engine) -> TimerService:
    service = TimerService(engine)

    @engine.app.timer(interval=0.05, name="timer-service")
    async def fire_due_timers() -> None:
        await service.tick()

    return service
