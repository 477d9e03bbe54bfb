"""A read replica of a compacted changelog on every worker.

The registry (workflows, versions, keys, secrets, ...) is small and read by
every API call and run start, on whichever worker gets the request. Faust's
GlobalTable is the textbook tool, but it has open multi-worker bugs
(faust-streaming #283), so each worker follows the table's changelog itself
with a plain aiokafka
consumer (no group: every partition, from the beginning).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from topics.kafka_security import KafkaSecurity, client_options

log = logging.getLogger(__name__)


class ChangelogReplica(Service):
    """key -> decoded value for every record of one compacted topic."""

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[bytes], Any],
                 security: KafkaSecurity | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bootstrap = bootstrap
        self.kafka_options = client_options(security)
        self.topic = topic
        self.decode = decode
        self.data: dict[str, Any] = {}
        self.caught_up = asyncio.Event()
        self._changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = {}  # next offset to apply, per partition
        self._offsets: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest", **self.kafka_options)
        await self._consumer.start()
        partitions = await self._wait_partitions()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        # End offsets come over a connection of their own: on the follower's, the answer
        # would queue behind its long-polling fetch (up to 500 ms; Kafka answers in order).
        self._offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                         enable_auto_commit=False, **self.kafka_options)
        await self._offsets.start()
        self._targets = await self._consumer.end_offsets(tps)
        self.add_future(self._follow())

    async def _wait_partitions(self) -> set[int]:
        assert self._consumer is not None
        for _ in range(300):
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                return partitions
            await self._consumer._client.force_metadata_update()  # topic just created
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self.topic} does not exist")

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._offsets is not None:
            await self._offsets.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        await self._check_caught_up()
        while not self.should_stop:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                if records:
                    self._next[tp] = records[-1].offset + 1
                for record in records:
                    key = record.key.decode() if record.key is not None else None
                    if key is None:
                        continue
                    if record.value is None:
                        self.on_record(key, self.data.pop(key, None), None)
                        continue
                    try:
                        value = self.decode(record.value)
                    except Exception as exc:
                        log.error("replica %s: skipping undecodable record at %s: %s",
                                  self.topic, record.offset, exc)
                        continue
                    self.on_record(key, self.data.get(key), value)
                    self.data[key] = value
            if batches:
                async with self._changed:
                    self._changed.notify_all()
            await self._check_caught_up()

    def on_record(self, key: str, old: Any, new: Any) -> None:
        """Called for every record before it replaces `old` (None: new key / tombstone)."""

    async def _check_caught_up(self) -> None:
        if self.caught_up.is_set() or self._consumer is None:
            return
        for tp, end in self._targets.items():
            if await self._consumer.position(tp) < end:
                return
        self.caught_up.set()

    async def sync(self, timeout: float) -> bool:
        """Wait until every write the broker had acknowledged when called is applied here.

        Read-your-writes across workers: one ListOffsets round trip (~1 ms), then usually
        no wait at all, instead of guessing how long the replica may lag.
        """
        consumer = self._consumer
        if consumer is None or self._offsets is None:
            return False
        try:
            ends = await asyncio.wait_for(self._offsets.end_offsets(list(self._targets)),
                                          timeout)
        except Exception:  # broker unreachable: the caller answers from what it has
            return False

        async def behind() -> list[TopicPartition]:
            late = []
            for tp, end in ends.items():
                if self._next.get(tp, 0) < end and await consumer.position(tp) < end:
                    late.append(tp)
            return late

        if not await behind():
            return True
        return await self.wait_for(lambda _: all(self._next.get(tp, 0) >= end
                                                  for tp, end in ends.items()), timeout)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        """Wait until predicate(data) holds (a write made elsewhere became visible here)."""
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.data))
        try:
            await asyncio.wait_for(_wait(), timeout)
            return True
        except TimeoutError:
            return predicate(self.data)
