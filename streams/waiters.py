"""In-process wake-ups for API calls that wait on a run (sync runs, idempotent starts)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any


class Waiters:
    """Futures keyed by run id, resolved by the run agent on every transition."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[dict[str, Any]]]] = defaultdict(list)

    def notify(self, run_id: str, state: dict[str, Any]) -> None:
        futures = self._waiting.pop(run_id, None)
        for fut in futures or ():
            if not fut.done():
                fut.set_result(state)

    async def next_change(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        """The run's next state written on this worker, or None after `timeout`."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[run_id].append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        finally:
            futures = self._waiting.get(run_id)
            if futures is not None:
                if fut in futures:
                    futures.remove(fut)
                if not futures:
                    self._waiting.pop(run_id, None)
