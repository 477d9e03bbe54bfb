"""Three fixes for faust-streaming 0.15.3 at-least-once delivery, applied at import.

Each lost runs in our kill -9 and scale-out tests, which cover them.

1. Committing past an unfinished message. With `concurrency > 1` (our step
executors) messages are acked out of order. `Consumer._new_offset` commits the
first run of consecutive acked offsets, and only refuses when the lowest acked
offset is more than one past the committed one (and never before the first
commit). So with offset 31 still in flight and 32..40 acked, it commits 41 and
31 is never redelivered after a crash or a rebalance. The fix: never commit
past a message that was taken by a stream and not acked yet.

2. Dropping re-fetched messages after a rebalance. The fetch loop
(`Consumer._drain_messages`) waits for a message to be delivered, or for the
flow to be suspended by a rebalance, and then records its offset as read. When
the rebalance won, that offset is recorded *after* the rebalance seeked back to
the committed position, so the re-fetched messages below it are dropped as
"already read" and never processed (seen: step dispatches lost after kill -9
and when a second worker joined). The fix: a message of an older consumer
generation does not move the read offset. Whatever else may still lose a
message is caught by the run watchdog (streams/machine.py).

3. Table writes reach Kafka through Faust's ProducerBuffer (`send_soon`), and
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

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
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


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover
    """Faust's fetch loop, unchanged but for the generation check on the read offset."""
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    num_since_yield = 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            ait = getmany(timeout=1.0)
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > 100:
                        await asyncio.sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        if message.generation_id == self.app.consumer_generation_id:
                            set_read_offset(tp, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        self.diag.unset_flag(CONSUMER_FETCHING)


Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
