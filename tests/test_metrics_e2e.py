"""Every metric family moves when its event happens: a live worker on the real broker.

Each test causes events (runs, a failing step with retries against a 500 peer, a delay,
a garbage record on run-commands, a rate-limited tenant, a webhook delivery, a bulk
job, HTTP calls) and compares /metrics before and after. The worker runs with
HOPFLOW_METRICS_TENANTS=1 (the per-tenant family is exported) and a workflow cap of 2,
so the cap's `_other` is reached in a few workflows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from schemas import codec
from streams import metrics as catalogue
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait
from tests.tenants import make_key
from tests.webhook_peer import Receiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("metrics"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("metrics"),
                         env={"HOPFLOW_METRICS_TENANTS": "1",
                              "HOPFLOW_METRICS_MAX_WORKFLOWS": "2",
                              "HOPFLOW_SECRETS_KEYS": Fernet.generate_key().decode(),
                              "HOPFLOW_WEBHOOK_BACKOFF_SECONDS": "0.5"})
    proc.start()
    yield proc
    proc.stop()


async def scrape(base: str) -> tuple[str, Samples]:
    async with httpx.AsyncClient(timeout=10) as plain:
        r = await plain.get(f"{base}/metrics")
    assert r.status_code == 200, r.text
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return r.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...],
                                                                 float]:
    """Samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {key: v for (n, key), v in samples.items() if n == name and want <= set(key)}


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true after {timeout}s (last: {last})")


def moved_by(base: str, name: str, at_least: float = 1.0, **labels: str
             ) -> Callable[[Samples], Awaitable[Samples]]:
    """A check that the sample grew by `at_least` from `before` (polled: scrapes lag events)."""

    async def check(before: Samples) -> Samples:
        async def grown() -> Samples | None:
            _, now = await scrape(base)
            return now if value(now, name, **labels) >= value(before, name, **labels) \
                + at_least else None
        return await until(grown)  # type: ignore[no-any-return]
    return check


TRANSFORM = {"name": "m-ok", "steps": [
    {"id": "t", "type": "transform", "config": {"fields": {"v": "{{input.x}}"}}}]}


async def test_runs_and_inline_steps_are_counted(worker: WorkerProcess, http: httpx.AsyncClient
                                                 ) -> None:
    base, tenant = worker.url, "metrics-runs"
    _, before = await scrape(base)
    wf = await create_workflow(http, base, TRANSFORM, tenant=tenant)
    r = await http.post(f"{base}/api/workflows/{wf}/run", params={"wait": "true"},
                        json={"input": {"x": 1}}, headers={"x-tenant-id": tenant})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    after = await moved_by(base, "hopflow_runs_ended_total", status="completed",
                           trigger="manual")(before)
    assert value(after, "hopflow_runs_started_total", trigger="manual") >= \
        value(before, "hopflow_runs_started_total", trigger="manual") + 1
    assert value(after, "hopflow_run_duration_seconds_count", status="completed") >= \
        value(before, "hopflow_run_duration_seconds_count", status="completed") + 1
    assert value(after, "hopflow_step_duration_seconds_count", step_type="transform",
                 outcome="ok") >= value(before, "hopflow_step_duration_seconds_count",
                                        step_type="transform", outcome="ok") + 1
    assert value(after, "hopflow_tenant_runs_ended_total", tenant=tenant,
                 status="completed") == 1
    assert value(after, "hopflow_workflow_runs_ended_total", workflow=wf,
                 status="completed") == 1 or value(
        after, "hopflow_workflow_runs_ended_total", workflow="_other", status="completed") >= 1


async def test_workflow_label_is_capped(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    """HOPFLOW_METRICS_MAX_WORKFLOWS=2: the third distinct workflow counts as _other."""
    base, tenant = worker.url, "metrics-cap"
    ids = [await create_workflow(http, base, {**TRANSFORM, "name": f"cap-{i}"}, tenant=tenant)
           for i in range(3)]
    for wf in ids:
        r = await http.post(f"{base}/api/workflows/{wf}/run", params={"wait": "true"},
                            json={"input": {"x": 1}}, headers={"x-tenant-id": tenant})
        assert r.status_code == 200, r.text

    async def capped() -> Samples | None:
        _, now = await scrape(base)
        return now if value(now, "hopflow_workflow_runs_ended_total", workflow="_other",
                            status="completed") >= 1 else None
    now = await until(capped)
    labelled = {dict(k)["workflow"] for k in matching(now, "hopflow_workflow_runs_ended_total")}
    assert len(labelled - {"_other"}) <= 2, labelled


async def test_failing_step_retries_and_fails_the_run(worker: WorkerProcess,
                                                      receiver: Receiver,
                                                      http: httpx.AsyncClient) -> None:
    base = worker.url
    receiver.always["/down"] = 500
    flow = {"name": "m-fail", "retry": {"max_retries": 1, "backoff_seconds": 0.2},
            "steps": [{"id": "call", "type": "webhook",
                       "config": {"url": receiver.url("/down"), "method": "POST"}}]}
    _, before = await scrape(base)
    wf = await create_workflow(http, base, flow)
    run = await run_and_wait(http, base, wf, {"x": 1})
    assert run["status"] == "failed", run
    after = await moved_by(base, "hopflow_runs_ended_total", status="failed",
                           trigger="manual")(before)
    for outcome in ("retried", "failed"):
        assert value(after, "hopflow_step_duration_seconds_count", step_type="webhook",
                     outcome=outcome) >= value(before, "hopflow_step_duration_seconds_count",
                                               step_type="webhook", outcome=outcome) + 1
    assert value(after, "hopflow_step_retries_total", step_type="webhook") >= \
        value(before, "hopflow_step_retries_total", step_type="webhook") + 1
    assert value(after, "hopflow_run_duration_seconds_count", status="failed") >= \
        value(before, "hopflow_run_duration_seconds_count", status="failed") + 1


async def test_a_delay_is_a_pending_timer(worker: WorkerProcess, http: httpx.AsyncClient
                                          ) -> None:
    base = worker.url
    flow = {"name": "m-delay", "steps": [{"id": "wait", "type": "delay",
                                          "config": {"seconds": 600}}]}
    wf = await create_workflow(http, base, flow)
    r = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    assert r.status_code == 202, r.text

    async def pending() -> bool:
        _, now = await scrape(base)
        return value(now, "hopflow_timers_pending") >= 1
    await until(pending)
    cancel = await http.post(f"{base}/api/workflows/runs/{r.json()['runId']}/cancel")
    assert cancel.status_code in (200, 202), cancel.text


async def test_a_garbage_record_is_dead_lettered_by_topic_and_kind(worker: WorkerProcess
                                                                   ) -> None:
    base = worker.url
    _, before = await scrape(base)
    producer = AIOKafkaProducer(bootstrap_servers=worker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{worker.app_id}.run-commands", b"\x00garbage",
                                     key=b"not-a-run")
    finally:
        await producer.stop()
    await moved_by(base, "hopflow_dead_letters_total", topic="run-commands",
                   reason="decode")(before)


async def test_a_step_result_for_an_unknown_run_is_an_orphan(worker: WorkerProcess) -> None:
    """The safety-net counter moves (the durability tests assert it stays 0)."""
    base = worker.url
    _, before = await scrape(base)
    command = {"id": "fin:1:1", "run_id": "run_gone", "tenant": "t", "ts_ms": 0,
               "kind": "step_finished", "request": None, "timer_token": None, "reason": None,
               "finished": {"seq": 1, "step_id": "s", "attempt": 1, "ok": True,
                            "retryable": False, "output": "{}", "error": None,
                            "request": None, "started_ms": 0, "ended_ms": 0,
                            "retry_after_ms": None, "credits": 0}}
    producer = AIOKafkaProducer(bootstrap_servers=worker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{worker.app_id}.run-commands",
                                     codec("run_command").encode(command), key=b"run_gone")
    finally:
        await producer.stop()
    await moved_by(base, "hopflow_orphan_commands_total")(before)


async def test_rate_limit_refusals_are_counted(worker: WorkerProcess,
                                               kafka_broker: BrokerSettings) -> None:
    base, tenant = worker.url, "metrics-free"
    key = await make_key(kafka_broker.bootstrap, worker.app_id, base, tenant, plan="free")
    headers = {"x-api-key": key, "x-tenant-id": tenant}
    _, before = await scrape(base)
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        wf = await create_workflow(client, base, TRANSFORM, tenant=tenant)
        codes = [(await client.post(f"{base}/api/workflows/{wf}/run",
                                    json={"input": {"x": i}})).status_code for i in range(7)]
    assert 429 in codes, codes
    after = await moved_by(base, "hopflow_runs_refused_total", reason="runs_per_minute")(before)
    assert value(after, "hopflow_http_requests_total", route="/api/workflows/{workflow_id}/run",
                 method="POST", status="429") >= 1


async def test_outbound_delivery_is_counted(worker: WorkerProcess, receiver: Receiver,
                                            http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "metrics-hooks"
    receiver.script["/hook"] = [500]  # the first attempt fails, the retry is delivered
    _, before = await scrape(base)
    r = await http.post(f"{base}/api/webhooks", json={"url": receiver.url("/hook"),
                                                      "eventTypes": ["run.completed"]},
                        headers={"x-tenant-id": tenant})
    assert r.status_code == 201, r.text
    wf = await create_workflow(http, base, TRANSFORM, tenant=tenant)
    r = await http.post(f"{base}/api/workflows/{wf}/run", params={"wait": "true"},
                        json={"input": {"x": 1}}, headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    after = await moved_by(base, "hopflow_outbound_deliveries_total", outcome="delivered")(
        before)
    assert value(after, "hopflow_outbound_deliveries_total", outcome="retried") >= \
        value(before, "hopflow_outbound_deliveries_total", outcome="retried") + 1


async def test_bulk_rows_are_counted(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "metrics-bulk"
    data = b"email\nann@example.com\nnot an email\nbob@example.org\n"
    _, before = await scrape(base)
    r = await http.post(f"{base}/api/bulk-jobs", files={"file": ("in.csv", data, "text/csv")},
                        data={"type": "email"}, headers={"x-tenant-id": tenant})
    assert r.status_code in (200, 201, 202), r.text
    moved = await until(lambda: _bulk_moved(base, before, 3))
    assert matching(moved, "hopflow_bulk_jobs_active"), "bulk_jobs_active not exported"


async def test_fan_out_job_is_active_then_counts_its_rows(worker: WorkerProcess,
                                                          http: httpx.AsyncClient) -> None:
    """A fan-out job's runs pause for an answer, so the job stays active until the test
    answers them (no race with the gauge's 2 s refresh on a slow machine); then its rows
    count as `workflow` rows, its runs as `bulk` runs, and the gauge drops back."""
    base, tenant = worker.url, "metrics-fanout"
    headers = {"x-tenant-id": tenant}
    wf = await create_workflow(http, base, {
        "name": "m-fan", "steps": [{"id": "ask", "type": "collect_inputs", "config": {
            "fields": {"ok": {"type": "string"}}}}],
        "trigger": {"type": "file_upload", "fan_out": "rows", "content_types": ["text/*"]}},
        tenant=tenant)
    _, before = await scrape(base)
    r = await http.post(f"{base}/api/workflows/{wf}/upload", headers=headers,
                        files={"file": ("p.csv", b"name\na\nb\nc\n", "text/csv")})
    assert r.status_code == 202, r.text

    async def active() -> bool:
        _, now = await scrape(base)
        return value(now, "hopflow_bulk_jobs_active") >= 1
    await until(active, timeout=60)

    async def paused() -> list[str]:
        listed = await http.get(f"{base}/api/workflows/{wf}/runs", headers=headers,
                                params={"status": "paused", "limit": "10"})
        ids = [run["runId"] for run in listed.json().get("data", [])] \
            if listed.status_code == 200 else []
        return ids if len(ids) == 3 else []
    for run_id in await until(paused, timeout=60):
        answer = await http.post(f"{base}/api/workflow/resume/{run_id}", headers=headers,
                                 json={"type": "collect_inputs", "data": {"ok": "yes"}})
        assert answer.status_code == 200, answer.text
    after = await moved_by(base, "hopflow_bulk_rows_total", at_least=3, type="workflow",
                           outcome="processed")(before)
    assert value(after, "hopflow_runs_started_total", trigger="bulk") >= \
        value(before, "hopflow_runs_started_total", trigger="bulk") + 3

    async def idle() -> bool:
        _, now = await scrape(base)
        return value(now, "hopflow_bulk_jobs_active") == 0
    await until(idle, timeout=60)


async def _bulk_moved(base: str, before: Samples, rows: int) -> Samples | None:
    _, now = await scrape(base)
    grown = sum(value(now, "hopflow_bulk_rows_total", type="email", outcome=o)
                - value(before, "hopflow_bulk_rows_total", type="email", outcome=o)
                for o in ("processed", "failed"))
    return now if grown >= rows else None


async def test_http_requests_by_route_template(worker: WorkerProcess, http: httpx.AsyncClient
                                               ) -> None:
    base = worker.url
    wf = await create_workflow(http, base, TRANSFORM)
    _, before = await scrape(base)
    assert (await http.get(f"{base}/api/workflows/{wf}")).status_code == 200
    assert (await http.get(f"{base}/api/no-such-thing/{wf}")).status_code == 404
    _, after = await scrape(base)
    route = "/api/workflows/{workflow_id}"
    assert value(after, "hopflow_http_requests_total", route=route, method="GET",
                 status="200") == value(before, "hopflow_http_requests_total", route=route,
                                        method="GET", status="200") + 1
    assert value(after, "hopflow_http_requests_total", route="unmatched", method="GET",
                 status="404") >= value(before, "hopflow_http_requests_total",
                                        route="unmatched", method="GET", status="404") + 1
    assert value(after, "hopflow_http_request_duration_seconds_count", route=route,
                 method="GET") >= 1
    assert not any(wf in dict(k).get("route", "")
                   for k in matching(after, "hopflow_http_requests_total")), "an id as route"


async def test_consumer_lag_and_recovery_are_read_at_scrape_time(worker: WorkerProcess) -> None:
    base = worker.url
    async def lag_for_every_partition() -> Samples | None:
        _, now = await scrape(base)
        lags = matching(now, "hopflow_consumer_lag_records", topic="run-commands")
        return now if len(lags) == 8 else None  # one worker owns all 8 partitions
    now = await until(lag_for_every_partition)
    lags = matching(now, "hopflow_consumer_lag_records", topic="run-commands")
    assert {dict(k)["partition"] for k in lags} == {str(p) for p in range(8)}
    assert all(v >= 0 for v in lags.values())

    async def idle_is_zero() -> Samples | None:  # every record processed and committed
        _, now = await scrape(base)
        lags = matching(now, "hopflow_consumer_lag_records", topic="run-commands")
        return now if len(lags) == 8 and not any(lags.values()) else None
    await until(idle_is_zero)
    assert value(now, "hopflow_table_recovery_active") == 0
    assert ("hopflow_table_recovery_last_seconds", ()) in now
    assert value(now, "hopflow_table_recovery_last_seconds") > 0  # the start-up recovery


async def test_every_catalogue_family_is_exported_and_no_label_is_a_run_id(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, TRANSFORM)
    run = await run_and_wait(http, base, wf, {"x": 1})
    text, samples = await scrape(base)
    for family in catalogue_families():
        assert f"# HELP {family} " in text or f"# HELP {family}_total " in text, \
            f"{family} missing from /metrics"
    run_ids = {run["runId"]}
    for (_, labels) in samples:
        for _, label_value in labels:
            assert label_value not in run_ids and not label_value.startswith("run_"), labels


def catalogue_families() -> list[str]:
    """Every family streams/metrics.py declares, by its exported name (no _total suffix)."""
    from prometheus_client import Counter, Gauge, Histogram
    return [obj._name for obj in vars(catalogue).values()
            if isinstance(obj, (Counter, Gauge, Histogram))]
