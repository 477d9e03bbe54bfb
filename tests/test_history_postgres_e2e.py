"""The shared PostgreSQL history store: two workers project as one group; the store can
go away (queries 503, runs keep flowing) and the projector catches up when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from bench.sink import Sink
from dev.pgserver import PostgresServer, start, stop
from dev.workers import WorkerProcess
from tests.helpers import create_workflow, run_and_wait


async def listed(http: httpx.AsyncClient, base: str, n: int, timeout: float = 30.0
                 ) -> list[str]:
    deadline = time.monotonic() + timeout
    ids: list[str] = []
    while time.monotonic() < deadline:
        response = await http.get(f"{base}/api/workflows/runs", params={"limit": 200})
        if response.status_code == 200:
            ids = [r["runId"] for r in response.json()["data"]
                   if r["status"] == "completed"]
            if len(ids) >= n:
                return ids
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(ids)} of {n} runs in the store after {timeout}s")


async def test_two_workers_share_one_postgres_store_that_may_go_away(
        spawn_worker: Callable[..., WorkerProcess], postgres_server: PostgresServer,
        postgres_dsn: str, sink: Sink, http: httpx.AsyncClient) -> None:
    first = spawn_worker(env={"HOPFLOW_HISTORY": postgres_dsn})
    second = spawn_worker(env={"HOPFLOW_HISTORY": postgres_dsn})
    wf = await create_workflow(http, first.url, {"name": "pg", "steps": [
        {"id": "call", "type": "webhook", "config": {"url": sink.url("/call"),
                                                     "method": "POST"}}]})
    ids = [(await run_and_wait(http, first.url, wf, {"i": i}))["runId"] for i in range(20)]
    assert set(await listed(http, first.url, 20)) == set(ids)
    assert set(await listed(http, second.url, 20)) == set(ids)  # one store, both answer
    health = (await http.get(f"{second.url}/api/workflows/{wf}/health")).json()
    assert health["totalRuns24h"] == 20  # each run counted once by the group

    stop(postgres_server)
    try:
        down = await http.get(f"{first.url}/api/workflows/runs")
        assert down.status_code == 503 and "history store" in down.json()["error"]["message"]
        during = [(await run_and_wait(http, second.url, wf, {"i": i}))["runId"]
                  for i in range(10)]  # runs keep flowing without the store
        assert (await http.get(f"{first.url}/healthz")).json()["history"]["available"] is False
    finally:
        start(postgres_server)
    assert set(await listed(http, first.url, 30, timeout=60)) == set(ids + during)
