"""Create the catalog's topics at start-up and check the ones that exist."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from topics.catalog import TopicSpec
from topics.kafka_security import KafkaSecurity, client_options


class TopicRefused(KafkaError):
    """The broker would not create a catalog topic (the message says why)."""


class TopicMismatch(RuntimeError):
    """An existing topic disagrees with the catalog (e.g. partition count)."""


async def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0, *,
                        security: KafkaSecurity | None = None, replication_factor: int = 1,
                        min_insync_replicas: int | None = None) -> None:
    """Create missing topics; refuse to start on a partition mismatch.

    `replication_factor` and `min_insync_replicas` (production: 3 and 2) apply to the
    topics created here; existing topics keep theirs (changing them is an operator's
    partition reassignment, not a start-up side effect).

    Co-partitioning (run-commands with the runs changelog) breaks silently if
    counts differ, so a mismatch is an error, never a warning.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                                **client_options(security))
    await asyncio.wait_for(admin.start(), timeout)  # a refused login must not hang start-up
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            extra = ({} if min_insync_replicas is None
                     else {"min.insync.replicas": str(min_insync_replicas)})
            new = [NewTopic(s.name, s.partitions, replication_factor,
                            topic_configs={**s.configs, **extra}) for s in missing]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                _raise_refusals(await admin.create_topics(new))
        present = [s for s in specs if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d["partitions"]) for d in described}
            for spec in present:
                if counts.get(spec.name) != spec.partitions:
                    raise TopicMismatch(
                        f"topic {spec.name} has {counts.get(spec.name)} partitions, "
                        f"the catalog says {spec.partitions}")
        await _wait_visible(admin, {s.name for s in specs}, timeout)
    finally:
        await admin.close()


def _raise_refusals(response: Any) -> None:
    """aiokafka hands back the broker's per-topic errors instead of raising them; a refused
    topic (a replication factor above the broker count, a bad config) would otherwise
    surface as a 30 s wait for a topic that never comes."""
    for error in response.topic_errors:
        name, code = error[0], error[1]
        if code and code != TopicAlreadyExistsError.errno:
            message = error[2] if len(error) > 2 and error[2] else for_code(code).__name__
            raise TopicRefused(f"the broker refused to create topic {name}: {message}")


async def _wait_visible(admin: AIOKafkaAdminClient, names: set[str], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if names <= set(await admin.list_topics()):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not visible after {timeout}s: {sorted(names)}")
        await asyncio.sleep(0.1)
