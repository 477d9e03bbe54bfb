"""Time a worker's restart to healthy with N ended runs behind it.

`python -m bench.restart_time --runs 100000 --bootstrap 127.0.0.1:9092`: starts a
worker whose ended runs leave the live table after 2 s, drives N runs through
the bench workflow, waits until they have been expired, then stops the worker
and times its restart to a 200 from /healthz (table recovery included). It
restarts it again once the broker has compacted the runs changelog
(`--settle` seconds later: the one-minute segments must roll and be cleaned,
then the tombstones' one-minute retention pass), and counts the changelog
records a recovery reads each time. The same restart on a fresh deployment
with no runs is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.run import run_bench
from dev.workers import WorkerProcess
from topics.catalog import Catalog
from topics.kafka_security import client_options


def restart_seconds(worker: WorkerProcess) -> float:
    worker.stop()
    t0 = time.perf_counter()
    worker.start(wait=600)
    return round(time.perf_counter() - t0, 2)


async def changelog_records(bootstrap: str, topic: str) -> int:
    """Records a recovery of `topic` reads today (what compaction has left)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **client_options())
    await consumer.start()  # subscribed, so the topic's metadata is loaded
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.unsubscribe()
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        count = 0
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            count += sum(len(records) for records in batch.values())
        return count
    finally:
        await consumer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--settle", type=float, default=300.0,
                        help="seconds to wait for compaction before the last restart (0: skip)")
    args = parser.parse_args()
    env = {"HOPFLOW_RUN_GRACE_SECONDS": "2"}
    stamp = int(time.time())
    empty = WorkerProcess(app_id=f"restart-empty-{stamp}", bootstrap=args.bootstrap,
                          home=Path(tempfile.mkdtemp(prefix="hopflow-restart-")), env=env)
    empty.start()
    baseline = restart_seconds(empty)
    empty.stop()
    app_id = f"restart-{stamp}"
    changelog = Catalog(app_id, 8).changelog("runs")
    worker = WorkerProcess(app_id=app_id, bootstrap=args.bootstrap,
                           home=Path(tempfile.mkdtemp(prefix="hopflow-restart-")), env=env)
    worker.start()
    t0 = time.perf_counter()
    result = asyncio.run(run_bench(worker.url, args.runs, 100, 10))
    drive_s = round(time.perf_counter() - t0, 1)
    time.sleep(10)  # grace (2 s) + the expiry tick: every ended run is tombstoned
    report = {"ended_runs": result.get("runs"), "errors": result.get("errors"),
              "drive_s": drive_s, "restart_empty_s": baseline,
              "changelog_records_before": asyncio.run(changelog_records(args.bootstrap,
                                                                        changelog)),
              "restart_with_runs_s": restart_seconds(worker)}
    print(json.dumps(report), flush=True)
    if args.settle > 0:
        time.sleep(args.settle)
        report["changelog_records_compacted"] = asyncio.run(
            changelog_records(args.bootstrap, changelog))
        report["restart_compacted_s"] = restart_seconds(worker)
        print(json.dumps(report), flush=True)
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
