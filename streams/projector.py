"""The history projector: run-events and workflow-events -> the history store.

Each batch's rows and the Kafka offsets they came from are written in one
transaction, and the consumer starts from the offsets in the store, never
from Kafka's committed ones: a crash neither duplicates nor skips a row, and
a new or deleted store catches up from the topics.

SQLite (per worker): every worker reads every partition, so any worker
answers any query. PostgreSQL (shared): the workers are one consumer group
and a partition's new owner seeks to the offsets the store holds. Writes are
idempotent (see history.projection), so a batch a departing owner was still
writing cannot double anything.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError
from mode import Service

from history import Database, StoreUnavailable
from history.migrate import migrate
from history.projection import Record, apply_batch, expire, stored_offsets
from schemas import DecodeError
from schemas import run_events as ev
from streams import metrics
from streams.settings import Settings
from topics.catalog import Catalog

log = logging.getLogger(__name__)
MAX_RECORDS = 2000
# How long a batch may wait for more records: the projection lags this much more.
LINGER_SECONDS = 0.25
RETENTION_EVERY_SECONDS = 600.0
RETRY_MAX_SECONDS = 5.0


class HistoryProjector(Service):
    def __init__(self, settings: Settings, catalog: Catalog, db: Database, **kwargs: Any
                 ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.db = db
        self.run_events = catalog.run_events.name
        self.workflow_events = catalog.workflow_events.name
        self.topics: tuple[str, ...] = (self.run_events, self.workflow_events)
        # one retention batch: (tx, before_ms=) -> rows deleted, 0 when nothing is left
        self.expire: Callable[..., int] = expire
        # one batch of decoded records and the next offsets, written in one transaction
        self.apply: Callable[[Any, list[Any], dict[tuple[str, int], int]], int] = apply_batch
        self.group = f"{settings.app_id}-history" if db.dialect == "postgresql" else None
        self.lag_records = 0
        self.last_event_ms = 0
        self.projected = 0
        self.skipped = 0
        self._lock = asyncio.Lock()
        # Set once the store's schema is in place: queries before it would find no tables.
        self.migrated = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self.add_future(self._run())

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _retry(self, what: str, fn: Any) -> Any:
        """Call fn() until the store answers; runs keep flowing meanwhile."""
        delay = 0.2
        while not self.should_stop:
            try:
                result = await fn()
                metrics.HISTORY_STORE_UP.set(1)
                return result
            except StoreUnavailable as exc:
                metrics.HISTORY_STORE_UP.set(0)
                log.warning("history: %s failed, retrying in %.1f s: %s", what, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        raise asyncio.CancelledError

    async def _run(self) -> None:
        await self._retry("migrate", lambda: self.db.write(migrate))
        self.migrated.set()
        topics = self.topics
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=MAX_RECORDS, session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000, **self.settings.kafka.client_options())
        self._consumer = consumer
        await consumer.start()
        if self.group is None:
            tps = [TopicPartition(t, p) for t in topics
                   for p in sorted(await self._partitions(consumer, t))]
            consumer.assign(tps)
            await self._seek(tps)
        else:
            consumer.subscribe(topics, listener=_Rebalance(self))
        self.add_future(self._retention())
        try:
            while not self.should_stop:
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                if batches:
                    await self._linger(consumer, batches)
                    await self._project(batches)
                await self._measure_lag()
        except ConsumerStoppedError:
            # on_stop closed the consumer under a getmany: a normal shutdown, not a crash
            # (it used to end every SIGTERM with an ERROR and exit status 1)
            if not self.should_stop:
                raise

    async def _linger(self, consumer: AIOKafkaConsumer,
                      batches: dict[TopicPartition, list[Any]]) -> None:
        """Gather up to LINGER_SECONDS more records into the batch.

        Bigger batches mean fewer transactions, and a run whose whole life is in one
        batch costs the store one row update instead of one per step (apply_batch).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        count = sum(len(messages) for messages in batches.values())
        while count < MAX_RECORDS and (left := deadline - loop.time()) > 0:
            more = await consumer.getmany(timeout_ms=max(1, int(left * 1000)),
                                          max_records=MAX_RECORDS - count)
            for tp, messages in more.items():
                batches.setdefault(tp, []).extend(messages)
                count += len(messages)

    async def _partitions(self, consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        for _ in range(300):
            found = consumer.partitions_for_topic(topic)
            if found:
                return found
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topic} does not exist")

    async def _seek(self, tps: list[TopicPartition]) -> None:
        """Continue from the store's offsets (a new store starts at the beginning)."""
        assert self._consumer is not None
        names = {tp.topic for tp in tps}
        offsets = await self._retry("read offsets",
                                    lambda: self.db.read(lambda tx: stored_offsets(tx, names)))
        for tp in tps:
            offset = offsets.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)

    def _decode(self, topic: str, value: bytes | None) -> Record | None:
        try:
            event = ev.decode(value or b"")
            if topic == self.run_events:
                self.last_event_ms = max(self.last_event_ms, ev.parse_time(event["time"]))
            return event
        except (DecodeError, ValueError, KeyError) as exc:
            self.skipped += 1
            log.warning("history: skipping an unreadable %s record: %s", topic, exc)
            return None

    async def _project(self, batches: dict[TopicPartition, list[Any]]) -> None:
        records: list[Record] = []
        offsets: dict[tuple[str, int], int] = {}
        for tp, messages in batches.items():
            for message in messages:
                record = self._decode(tp.topic, message.value)
                if record is not None:
                    records.append(record)
            offsets[(tp.topic, tp.partition)] = messages[-1].offset + 1
        async with self._lock:
            await self._retry("project", lambda: self.db.write(
                lambda tx: self.apply(tx, records, offsets)))
        self.projected += len(records)

    async def _measure_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        lag = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp) if tp.topic == self.run_events else None
            if high is not None:
                lag += max(0, high - await consumer.position(tp))
        self.lag_records = lag
        metrics.PROJECTION_LAG_RECORDS.set(lag)
        behind = (time.time() * 1000 - self.last_event_ms) / 1000 if lag else 0.0
        metrics.PROJECTION_LAG_SECONDS.set(max(0.0, behind))

    async def _retention(self) -> None:
        """Delete history older than the retention setting, in small transactions."""
        await asyncio.sleep(min(60.0, RETENTION_EVERY_SECONDS))
        while not self.should_stop:
            if self._owns_retention():
                cutoff = int((time.time() - self.settings.history_retention_days * 86400) * 1000)
                try:
                    while await self.db.write(functools.partial(self.expire, before_ms=cutoff)):
                        await asyncio.sleep(0)
                except StoreUnavailable as exc:
                    log.warning("history: retention skipped: %s", exc)
            await asyncio.sleep(RETENTION_EVERY_SECONDS)

    def _owns_retention(self) -> bool:
        """SQLite: every worker cleans its own file; PostgreSQL: one worker does it."""
        if self.group is None or self._consumer is None:
            return True
        return TopicPartition(self.topics[0], 0) in self._consumer.assignment()

    def status(self) -> dict[str, Any]:
        return {"store": self.db.dialect, "available": self.db.available,
                "lagRecords": self.lag_records, "projected": self.projected,
                "skipped": self.skipped}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Group mode: finish the batch in flight before giving partitions away; seek on gain."""

    def __init__(self, projector: HistoryProjector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.projector._lock:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.projector._seek(list(assigned))
