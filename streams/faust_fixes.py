"""A fix for Faust's producer buffer flush, applied at import.

Table writes reach Kafka through Faust's ProducerBuffer (`send_soon`), and
the consumer flushes that buffer before it commits source offsets. In
faust-streaming 0.15.3 `ProducerBuffer.flush` gives up after 100 ms without
progress, and a message popped from the queue but not yet handed to aiokafka
is invisible to it, so an offset can be committed before the table write it
depends on was sent. A kill -9 at that moment loses the write for good (our
crash test lost 1 run in 200 this way). This flush waits until the queue is
empty and nothing is in flight; the aiokafka flush that follows then covers
every table write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

_original_send_pending = ProducerBuffer._send_pending


async def _send_pending(self: Any, fut: Any) -> None:
    self._hopflow_in_flight = getattr(self, "_hopflow_in_flight", 0) + 1
    try:
        await _original_send_pending(self, fut)
    finally:
        self._hopflow_in_flight -= 1


async def _flush(self: Any) -> None:
    while self.size or getattr(self, "_hopflow_in_flight", 0):
        if self.state != "running":
            raise RuntimeError("Cannot flush: producer buffer not running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except TimeoutError:
            continue


ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
ProducerBuffer.flush = _flush  # type: ignore[method-assign]
