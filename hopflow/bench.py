"""`hopflow bench`: start (or reuse) the broker, start a worker, run bench/ against it."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.run import run_bench
from dev import kafka
from dev.workers import WorkerProcess


def bench(runs: int, concurrency: int, warmup: int, base_url: str | None) -> int:
    worker = None
    if base_url is None:
        settings = kafka.BrokerSettings.from_env()
        print(f"broker: {settings.bootstrap}", file=sys.stderr)
        kafka.start(settings)
        home = Path(tempfile.mkdtemp(prefix="hopflow-bench-"))
        worker = WorkerProcess(app_id=f"bench-{int(time.time())}", bootstrap=settings.bootstrap,
                               home=home)
        print(f"worker: starting on {worker.url} (log {worker.log_path})", file=sys.stderr)
        worker.start()
        base_url = worker.url
    try:
        result = asyncio.run(run_bench(base_url, runs, concurrency, warmup))
    finally:
        if worker is not None:
            worker.stop()
    print(json.dumps(result))
    return 0 if result.get("errors", 0) == 0 else 1
