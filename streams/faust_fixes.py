"""Two fixes for faust-streaming 0.15.3 at-least-once delivery, applied at import.

Both lost runs in our kill -9 and scale-out tests; both are covered by them.

1. Committing past an unfinished message. With `concurrency > 1` (our step
executors) messages are acked out of order. `Consumer._new_offset` commits the
first run of consecutive acked offsets, and only refuses when the lowest acked
offset is more than one past the committed one (and never before the first
commit). So with offset 31 still in flight and 32..40 acked, it commits 41 and
31 is never redelivered after a crash or a rebalance. The fix: never commit
past a message that was taken by a stream and not acked yet.

Not fixed here (see the issue note): after a rebalance, a message fetched in
the old generation can still move Faust's read offset past the position the
rebalance seeked to, and the re-fetched messages below it are dropped as
already read. Refusing to commit past such a message would stall the
partition's commits for good, so that case is left to the run watchdog
(streams/machine.py), which retries a step whose result never comes back.

2. Table writes reach Kafka through Faust's ProducerBuffer (`send_soon`), and
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

from faust.transport.consumer import Consumer
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


_original_new_offset = Consumer._new_offset


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    if acked:
        head = min(acked)
        for message in list(self._unacked_messages):
            if message.tp == tp and message.offset < head:
                return None  # a message before the acked run is still being processed
    return _original_new_offset(self, tp)


Consumer._new_offset = _new_offset  # type: ignore[method-assign]
