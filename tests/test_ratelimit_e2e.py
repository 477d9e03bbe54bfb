"""Run limits end to end: two real workers of one deployment on the real broker.

The limit belongs to the tenant, not to a worker: calls alternate between the
two workers and the 6th run in a minute of a free tenant is still refused.
The workers run with HOPFLOW_DAILY_RUNS_CAP=8 so the daily cap is reached in
a few calls (it lowers every limited plan's daily cap; unlimited stays so).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterator

import httpx
import pytest

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow
from tests.tenants import make_key

DAILY_CAP = 8
WORKFLOW = {"name": "limited", "steps": [
    {"id": "a", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}}]}


@pytest.fixture(scope="module")
def workers(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    app_id = fresh_app_id("ratelimit")
    env = {"HOPFLOW_DAILY_RUNS_CAP": str(DAILY_CAP)}
    first = WorkerProcess(app_id=app_id, bootstrap=kafka_broker.bootstrap,
                          home=tmp_path_factory.mktemp("rl1"), env=env)
    second = WorkerProcess(app_id=app_id, bootstrap=kafka_broker.bootstrap,
                           home=tmp_path_factory.mktemp("rl2"), env=env)
    first.start()
    second.start()
    yield first, second
    second.stop()
    first.stop()


async def _tenant(bootstrap: str, workers: tuple[WorkerProcess, WorkerProcess], tenant: str,
                  plan: str) -> dict[str, str]:
    base = workers[0].url
    async with httpx.AsyncClient(timeout=10) as plain:
        app_id = (await plain.get(f"{base}/healthz")).json()["app"]
    key = await make_key(bootstrap, app_id, base, tenant, plan=plan)
    await make_key_valid_on(workers[1].url, tenant, key)
    return {"x-api-key": key, "x-tenant-id": tenant}


async def make_key_valid_on(base: str, tenant: str, key: str) -> None:
    async with httpx.AsyncClient(timeout=10) as plain:
        for _ in range(300):
            got = await plain.get(f"{base}/api/tenant",
                                  headers={"x-api-key": key, "x-tenant-id": tenant})
            if got.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"key never valid on {base}")


async def _start(http: httpx.AsyncClient, base: str, wf: str, n: int) -> httpx.Response:
    return await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {"n": n}})


async def test_free_tenant_gets_five_runs_a_minute_across_both_workers(
        workers: tuple[WorkerProcess, WorkerProcess], kafka_broker: BrokerSettings) -> None:
    headers = await _tenant(kafka_broker.bootstrap, workers, "free-minute", "free")
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        wf = await create_workflow(http, workers[0].url, WORKFLOW, tenant="free-minute")
        await make_workflow_visible(http, workers[1].url, wf)
        answers = [await _start(http, workers[i % 2].url, wf, i) for i in range(5)]
        assert [a.status_code for a in answers] == [202] * 5, [a.text for a in answers]
        for i in range(2):  # the 6th and 7th, on each worker
            refused = await _start(http, workers[(5 + i) % 2].url, wf, 5 + i)
            assert refused.status_code == 429, refused.text
            wait = int(refused.headers["Retry-After"])
            assert 1 <= wait <= 60
            error = refused.json()["error"]
            assert error["code"] == "rate_limited" and error["retryAfter"] == wait
            assert "5 runs per minute" in error["message"]
        # the sync and 003 start paths are limited the same way
        sync = await http.post(f"{workers[1].url}/api/workflow/start/{wf}", json={"data": {}})
        assert sync.status_code == 429 and "Retry-After" in sync.headers
        # the admitted runs ran
        for answer in answers:
            run_id = answer.json()["runId"]
            await wait_done(http, workers[0].url, run_id)


async def test_daily_cap_refuses_past_the_cap_with_retry_after_midnight(
        workers: tuple[WorkerProcess, WorkerProcess], kafka_broker: BrokerSettings) -> None:
    headers = await _tenant(kafka_broker.bootstrap, workers, "paid-daily", "paid")
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        wf = await create_workflow(http, workers[0].url, WORKFLOW, tenant="paid-daily")
        await make_workflow_visible(http, workers[1].url, wf)
        codes = [(await _start(http, workers[i % 2].url, wf, i)).status_code
                 for i in range(DAILY_CAP)]
        assert codes == [202] * DAILY_CAP
        refused = await _start(http, workers[1].url, wf, 99)
        assert refused.status_code == 429, refused.text
        assert "daily limit of 8 runs" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 86_400


async def test_an_unlimited_tenant_is_never_limited(
        workers: tuple[WorkerProcess, WorkerProcess], kafka_broker: BrokerSettings) -> None:
    headers = await _tenant(kafka_broker.bootstrap, workers, "unlimited-t", "unlimited")
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        wf = await create_workflow(http, workers[0].url, WORKFLOW, tenant="unlimited-t")
        await make_workflow_visible(http, workers[1].url, wf)
        codes = [(await _start(http, workers[i % 2].url, wf, i)).status_code
                 for i in range(DAILY_CAP + 7)]
        assert codes == [202] * (DAILY_CAP + 7)


async def make_workflow_visible(http: httpx.AsyncClient, base: str, wf: str) -> None:
    for _ in range(300):
        if (await http.get(f"{base}/api/workflows/{wf}")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workflow {wf} never replicated to {base}")


async def wait_done(http: httpx.AsyncClient, base: str, run_id: str) -> None:
    for _ in range(300):
        got = await http.get(f"{base}/api/workflows/runs/{run_id}")
        if got.status_code == 200 and got.json()["status"] == "completed":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not complete")


GATED = {"name": "one-per-customer", "concurrency": {"key": "{{input.customer}}", "limit": 1},
         "steps": [{"id": "wait", "type": "delay", "config": {"seconds": 2}},
                   {"id": "done", "type": "transform",
                    "config": {"fields": {"n": "{{input.n}}"}}}]}


async def _finished(http: httpx.AsyncClient, base: str, run_id: str) -> dict[str, object]:
    for _ in range(600):
        got = await http.get(f"{base}/api/workflows/runs/{run_id}")
        if got.status_code == 200 and got.json()["status"] == "completed":
            return got.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not complete")


def _ms(iso: object) -> float:
    return dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000


async def test_runs_with_the_same_key_wait_their_turn_in_order(
        workers: tuple[WorkerProcess, WorkerProcess], kafka_broker: BrokerSettings) -> None:
    headers = await _tenant(kafka_broker.bootstrap, workers, "gated", "unlimited")
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        wf = await create_workflow(http, workers[0].url, GATED, tenant="gated")
        await make_workflow_visible(http, workers[1].url, wf)
        same = []
        for n in range(3):  # alternate workers: the gate, not a worker, orders them
            answer = await http.post(f"{workers[n % 2].url}/api/workflows/{wf}/run",
                                     json={"input": {"customer": "acme", "n": n}})
            assert answer.status_code == 202, answer.text
            same.append(answer.json()["runId"])
        other = (await http.post(f"{workers[1].url}/api/workflows/{wf}/run",
                                 json={"input": {"customer": "globex", "n": 9}})).json()["runId"]
        runs = [await _finished(http, workers[0].url, r) for r in same]
        lone = await _finished(http, workers[0].url, other)
        for before, after in itertools.pairwise(runs):
            assert _ms(after["startTime"]) >= _ms(before["endTime"]), (before, after)
        assert [r["result"] for r in runs] == [{"n": 0}, {"n": 1}, {"n": 2}]
        # another key does not wait for acme's queue
        assert _ms(lone["startTime"]) < _ms(runs[0]["endTime"])


async def test_a_bad_concurrency_block_is_a_400_naming_the_field(
        workers: tuple[WorkerProcess, WorkerProcess], kafka_broker: BrokerSettings) -> None:
    headers = await _tenant(kafka_broker.bootstrap, workers, "gated-bad", "unlimited")
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        for block, field in (({"key": "{{input.c}}", "limit": 0}, "concurrency.limit"),
                             ({"limit": 1}, "concurrency.key")):
            got = await http.post(f"{workers[0].url}/api/workflows",
                                  json={**GATED, "concurrency": block})
            assert got.status_code == 400, got.text
            assert got.json()["error"]["field"] == field
