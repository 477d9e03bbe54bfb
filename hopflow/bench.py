"""`hopflow bench`: start (or reuse) the broker, start a worker, run bench/ against it."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from api.auth import new_key
from bench.run import auth_headers, run_bench
from dev import kafka
from dev.workers import WorkerProcess
from streams.control import client

BENCH_TENANT = "bench"


async def _bench_key(bootstrap: str, app_id: str) -> dict[str, str]:
    """An owner key of an unlimited internal tenant, made the way an operator would."""
    key_id, key, digest = new_key()
    await client.send_command(bootstrap, app_id, BENCH_TENANT, "tenant.set_plan",
                              {"plan": "unlimited"})
    command_id = await client.send_command(bootstrap, app_id, BENCH_TENANT, "key.create", {
        "key_id": key_id, "hash": digest, "role": "owner", "name": "bench"})
    if await client.wait_outcome(bootstrap, app_id, command_id, 30.0) is None:
        raise RuntimeError("the worker did not apply the bench key")
    return {"x-api-key": key, "x-tenant-id": BENCH_TENANT}


def bench_bulk(rows: int, type_: str, workers: int) -> int:
    """A broker, `workers` workers of one fresh deployment, one bulk job of `rows` rows."""
    from bench.bulk import run_bulk

    settings = kafka.BrokerSettings.from_env()
    print(f"broker: {settings.bootstrap}", file=sys.stderr)
    kafka.start(settings)
    home = Path(tempfile.mkdtemp(prefix="hopflow-bench-bulk-"))
    app_id = f"bench-bulk-{int(time.time())}"
    procs = [WorkerProcess(app_id=app_id, bootstrap=settings.bootstrap, home=home)
             for _ in range(workers)]
    try:
        for proc in procs:
            proc.start()
        headers = asyncio.run(_bench_key(settings.bootstrap, app_id))
        result = asyncio.run(run_bulk(procs[0].url, rows, type_, headers=headers))
    finally:
        for proc in procs:
            proc.stop()
    print(json.dumps({**result, "workers": workers}))
    return 0 if result["status"] == "completed" else 1


def bench(runs: int, concurrency: int, warmup: int, base_url: str | None,
          api_key: str | None = None, tenant: str | None = None) -> int:
    worker = None
    headers = auth_headers(api_key, tenant)
    if base_url is None:
        settings = kafka.BrokerSettings.from_env()
        print(f"broker: {settings.bootstrap}", file=sys.stderr)
        kafka.start(settings)
        home = Path(tempfile.mkdtemp(prefix="hopflow-bench-"))
        worker = WorkerProcess(app_id=f"bench-{int(time.time())}", bootstrap=settings.bootstrap,
                               home=home)
        print(f"worker: starting on {worker.url} (log {worker.log_path})", file=sys.stderr)
    try:
        if worker is not None:
            worker.start()  # inside the try: a failed start or key must not leave it running
            base_url = worker.url
            headers = asyncio.run(_bench_key(worker.bootstrap, worker.app_id))
        assert base_url is not None
        result = asyncio.run(run_bench(base_url, runs, concurrency, warmup, headers=headers))
    finally:
        if worker is not None:
            worker.stop()
    print(json.dumps(result))
    return 0 if result.get("errors", 0) == 0 else 1
