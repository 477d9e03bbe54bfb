"""Fixes for faust-streaming 0.15.3 at-least-once delivery, applied at import.

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

4. Committing past a message that never reached a stream. After a seek (every
rebalance seeks to the committed offsets), records prefetched from the old
position can still come out of `getmany` (faust-streaming #221). The fetch loop
then saw offset 29 when it expected 26, recorded 26..28 as a "gap" (offsets
that do not exist, as in a compacted log) and committed past them: they were
never processed (seen after kill -9: the first run commands of a partition
after the restart were lost and their runs answered 404). The fix, for topics
whose offsets we commit (none of ours is compacted or transactional, so their
offsets have no holes): records are handed to streams strictly in offset
order. A record ahead of the next expected offset is dropped and the partition
is sought back to that offset; only if the offset still has not come after
5 s is it taken as a real hole.

5. Committing past a skipped message, whatever skipped it. Since
faust-streaming's PR #33 a committed offset is Kafka's "next offset to read",
but `_new_offset` still checks the old way (`min(acked) - committed > 1`, and
not at all before the first commit). Here the acked run must start exactly at
the committed offset; a partition stuck behind a message nobody holds is
sought back to it after 2 s.

Fixes 4 and 5 count their seeks in `hopflow_consumer_reseeks_total`: each is a
message Faust would have lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.producer import ProducerBuffer
from prometheus_client import Counter

log = logging.getLogger(__name__)
CONSUMER_RESEEKS = Counter(
    "hopflow_consumer_reseeks_total",
    "Partitions sought back to a skipped message (a Faust delivery bug caught; see faust_fixes)")

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


# A partition is sought back when its next message has been missing this long.
RESEEK_AFTER_SECONDS = 2.0


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    if acked:
        head = min(acked)
        gap = self._gap[tp]
        if gap:
            head = min(head, min(interval.begin for interval in gap))
        for message in list(self._unacked_messages):
            if message.acked:  # a redelivered duplicate of an acked offset: never acked again
                self._unacked_messages.discard(message)
            elif message.tp == tp and message.offset < head:
                self._hopflow_stalled.pop(tp, None)
                return None  # a message before the acked run is still being processed
        expected = self._committed_offset[tp] or 0
        if head > expected:
            _stalled(self, tp, expected)
            return None  # the message at the committed offset was never acked
        self._hopflow_stalled.pop(tp, None)
    return _original_new_offset(self, tp)


def _stalled(self: Any, tp: Any, expected: int) -> None:
    """Seek back once the message at `expected` has been missing for a while.

    Our committed topics are neither compacted nor transactional, so every offset
    between the log start and the end holds a record: a missing one was skipped,
    not absent, and is sought again (every 2 s) until it comes. Only an offset
    below the partition's log start (deleted by retention meanwhile) is a real
    hole, recorded as a gap. (Before, a second failed seek was taken as proof of
    a hole: under CPU starvation in a scale-out stress round that skipped an
    existing step dispatch, and only the run watchdog saved the run.)
    """
    now = time.monotonic()
    since, offset, reseeks = self._hopflow_stalled.get(tp, (now, expected, 0))
    if offset != expected:
        since, reseeks = now, 0
    self._hopflow_stalled[tp] = (since, expected, reseeks)
    if now - since < RESEEK_AFTER_SECONDS or self.app.rebalancing or tp not in self.assignment():
        return
    level = logging.WARNING if reseeks in (0, 2) or reseeks % 30 == 0 else logging.DEBUG
    log.log(level, "message %s of %s was skipped; seeking back to it (seek %d)",
            expected, tp, reseeks + 1)
    CONSUMER_RESEEKS.inc()
    self._hopflow_stalled[tp] = (now, expected, reseeks + 1)
    if reseeks >= 2:
        _spawn(self, _gap_if_deleted(self, tp, expected))
    _seek_soon(self, tp, expected)


async def _gap_if_deleted(self: Any, tp: Any, expected: int) -> None:
    """Record [expected, log start) as a gap when retention deleted those records."""
    try:
        earliest = (await self.earliest_offsets(tp)).get(tp)
    except Exception as exc:  # the next stall check asks again
        log.info("log start of %s unknown: %r", tp, exc)
        return
    if earliest is not None and expected < earliest:
        log.warning("offsets %s..%s of %s were deleted by retention before being "
                    "processed: treated as a gap", expected, earliest - 1, tp)
        self._gap[tp].addi(expected, earliest)
        self._hopflow_stalled.pop(tp, None)


Consumer._new_offset = _new_offset  # type: ignore[method-assign]

_original_consumer_init = Consumer.__init__


def _consumer_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_consumer_init(self, *args, **kwargs)
    self._hopflow_stalled = {}  # tp -> (stalled since, missing offset, seeks so far)
    self._hopflow_seeks: set[asyncio.Future[None]] = set()
    self._hopflow_next: dict[Any, int] = {}  # tp -> next offset to hand to streams (fix 4)
    self._hopflow_holes: dict[Any, tuple[int, float]] = {}  # tp -> (missing offset, since)


Consumer.__init__ = _consumer_init  # type: ignore[method-assign]


# A record ahead of the expected offset is dropped this long before it is taken
# as proof of a real hole in the log.
HOLE_AFTER_SECONDS = 5.0


def _in_order(self: Any, tp: Any, offset: int) -> bool:
    """Whether a record of a committed topic may go to the streams now (fix 4)."""
    expected = self._hopflow_next.get(tp)
    if expected is None or offset == expected:
        self._hopflow_holes.pop(tp, None)
        return True
    if offset < expected:
        return True  # a re-read below the position: the read-offset check decides
    now = time.monotonic()
    hole = self._hopflow_holes.get(tp)
    if hole is None or hole[0] != expected:  # first record past the position: fetch from it
        self._hopflow_holes[tp] = (expected, now)
        log.info("record %s of %s is ahead of %s (prefetched before a seek); seeking back",
                 offset, tp, expected)
        CONSUMER_RESEEKS.inc()
        _seek_soon(self, tp, expected)
        return False
    if now - hole[1] >= HOLE_AFTER_SECONDS:
        log.warning("offsets %s..%s of %s never arrived: taken as a hole in the log",
                    expected, offset - 1, tp)
        self._hopflow_holes.pop(tp, None)
        return True
    return False


def _seek_soon(self: Any, tp: Any, offset: int) -> None:
    async def seek() -> None:
        try:
            await self.seek(tp, offset)
        except Exception as exc:  # revoked meanwhile: the next owner starts from the commit
            log.info("seek of %s to %s skipped: %r", tp, offset, exc)

    _spawn(self, seek())


def _spawn(self: Any, coro: Any) -> None:
    """Run a consumer chore in the background, held until it ends."""
    task = asyncio.ensure_future(coro)
    self._hopflow_seeks.add(task)
    task.add_done_callback(self._hopflow_seeks.discard)


_original_seek = Consumer.seek
_original_perform_seek = Consumer.perform_seek


async def _seek(self: Any, partition: Any, offset: int) -> None:
    await _original_seek(self, partition, offset)
    self._hopflow_next[partition] = offset


async def _perform_seek(self: Any) -> None:
    await _original_perform_seek(self)
    for tp, offset in self._committed_offset.items():
        if offset is not None:
            self._hopflow_next[tp] = offset
        else:
            self._hopflow_next.pop(tp, None)


Consumer.seek = _seek  # type: ignore[method-assign]
Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover
    """Faust's fetch loop, but in offset order (fix 4), no gaps, and fix 2's generation check."""
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    next_offset = self._hopflow_next
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
                    # committed topics only: changelogs are compacted, with real holes
                    acking = acks_enabled_for(message.topic)
                    if acking and not _in_order(self, tp, offset):
                        continue
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        if message.generation_id == self.app.consumer_generation_id:
                            set_read_offset(tp, offset)
                            if acking:
                                next_offset[tp] = offset + 1
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
