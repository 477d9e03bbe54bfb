"""Metrics read at scrape time: consumer lag and table recovery.

Both are state the Faust consumer and its recovery service already keep; reading them
when Prometheus asks costs nothing on the run path (no hook per message, no timer).
What is read:

- lag per assigned source partition = the partition's high watermark (the next offset
  to be written, as the fetcher last saw it) minus this worker's committed offset (the
  next offset to process, as Faust commits it every broker_commit_interval). Changelog
  partitions are left out: nothing commits them (they are read by recovery, not acked).
- recovery: Faust's Recovery service flags `in_recovery` and stamps its start and end
  (monotonic clock); the last duration is their difference once it has ended.

Faust keeps the offsets and stamps in attributes without a public accessor in 0.15.x;
each read is guarded, so a Faust upgrade that renames one drops that sample, never the
whole scrape.
"""

from __future__ import annotations

import logging
from typing import Any

from streams import metrics
from streams.engine import Engine

log = logging.getLogger(__name__)


def refresh(engine: Engine) -> None:
    """Set the scrape-time gauges from the consumer's and recovery service's own state."""
    try:
        _lag(engine)
    except Exception as exc:  # a consumer not started yet, or between generations
        log.debug("consumer lag not readable: %r", exc)
    try:
        _recovery(engine.app.tables.recovery)
    except Exception as exc:
        log.debug("recovery state not readable: %r", exc)


def lags(engine: Engine) -> dict[tuple[str, int], int]:
    """{(catalog topic name, partition): records behind} for this worker's source partitions."""
    consumer = engine.app.consumer
    committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    out: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        topic = engine.topic_label(tp.topic)
        if topic == "other":  # changelogs and anything outside the catalog
            continue
        highwater = consumer.highwater(tp)
        if highwater is None:  # no fetch answered for it yet
            continue
        position = committed.get(tp) or 0  # nothing committed yet: every record is ahead
        out[(topic, tp.partition)] = max(0, highwater - position)
    return out


def _lag(engine: Engine) -> None:
    values = lags(engine)
    metrics.CONSUMER_LAG.clear()  # partitions revoked in a rebalance must not linger
    for (topic, partition), lag in values.items():
        metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)


def _recovery(recovery: Any) -> None:
    metrics.RECOVERY_ACTIVE.set(1 if recovery.in_recovery else 0)
    started = getattr(recovery, "_recovery_started_at", None)
    ended = getattr(recovery, "_recovery_ended_at", None)
    if started is not None and ended is not None and ended >= started:
        metrics.RECOVERY_SECONDS.set(ended - started)
