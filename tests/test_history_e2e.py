"""Run history end to end: lifecycle events on Kafka, the store, its queries, retention.

A real broker, real worker processes, a real HTTP peer; the store is the
worker's embedded SQLite (PostgreSQL: test_history_postgres_e2e.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from bench.sink import Sink
from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from schemas import run_events
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait, wait_status

GRACE_SECONDS = 3


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    """One worker whose ended runs leave the live table after GRACE_SECONDS."""
    proc = WorkerProcess(app_id=fresh_app_id("history"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("history"),
                         env={"HOPFLOW_RUN_GRACE_SECONDS": str(GRACE_SECONDS)})
    proc.start()
    yield proc
    proc.stop()


def two_steps(sink: Sink, name: str = "two", delay_ms: int = 0) -> dict[str, Any]:
    return {"name": name, "retry": {"max_retries": 2, "backoff_seconds": 0.1}, "steps": [
        {"id": "call", "type": "webhook", "config": {
            "url": sink.url(f"/call?delay_ms={delay_ms}"), "method": "POST",
            "body": {"email": "{{input.email}}"}}},
        {"id": "shape", "type": "transform", "config": {"fields": {"e": "{{input.email}}"}}}]}


async def projected(http: httpx.AsyncClient, base: str, run_id: str, status: str,
                    tenant: str = "default", timeout: float = 15.0) -> dict[str, Any]:
    """Wait until the run's row in the store has `status` (the projector is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = (await http.get(f"{base}/api/workflows/runs", params={"limit": 200},
                               headers={"x-tenant-id": tenant})).json()
        for item in page["data"]:
            if item["runId"] == run_id and item["status"] == status:
                return item
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} not projected as {status}")


async def events_of(bootstrap: str, topic: str, run_id: str, count: int) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[dict] = []
    try:
        deadline = time.monotonic() + 20
        while len(found) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == run_id.encode():
                        found.append(run_events.decode(record.value))
    finally:
        await consumer.stop()
    return found


async def test_every_transition_is_a_cloudevent_on_run_events(
        worker: WorkerProcess, kafka_broker: BrokerSettings, sink: Sink,
        http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, worker.url, two_steps(sink, "events"))
    sink.fail_next("/call", times=1)
    run = await run_and_wait(http, worker.url, wf, {"email": "a@b.c"})
    assert run["status"] == "completed"
    events = await events_of(kafka_broker.bootstrap, f"{worker.app_id}.run-events",
                             run["runId"], 6)
    assert [e["type"] for e in events] == [
        "run.started", "step.failed", "run.retrying", "step.completed", "step.completed",
        "run.completed"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e["id"] for e in events} == {f"{run['runId']}:{n}" for n in range(1, 7)}
    assert all(e["subject"] == run["runId"] and e["tenant"] == "default" for e in events)
    assert events[0]["data"]["input"] == {"email": "a@b.c"}
    assert events[1]["data"]["willRetry"] is True and events[1]["data"]["attempt"] == 1
    assert events[3]["data"]["output"]["status"] == 200
    assert events[5]["data"]["result"] == {"e": "a@b.c"}


async def test_a_run_reads_the_same_after_it_left_the_live_table(
        worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, worker.url, two_steps(sink, "grace"))
    run = await run_and_wait(http, worker.url, wf, {"email": "g@b.c"})
    live = await http.get(f"{worker.url}/api/workflows/runs/{run['runId']}")
    assert live.headers["x-hopflow-source"] == "live"
    deadline = time.monotonic() + GRACE_SECONDS + 10
    while time.monotonic() < deadline:
        later = await http.get(f"{worker.url}/api/workflows/runs/{run['runId']}")
        if later.headers["x-hopflow-source"] == "history":
            break
        await asyncio.sleep(0.2)
    assert later.headers["x-hopflow-source"] == "history", "the run never left the live table"
    assert later.json() == live.json()
    also = await http.get(f"{worker.url}/api/workflow/status/{run['runId']}")
    assert also.json() == live.json()


async def test_lists_filters_pagination_and_bad_parameters(
        worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    tenant = {"x-tenant-id": "lists"}
    good = await create_workflow(http, worker.url, two_steps(sink, "good"), tenant="lists")
    bad = await create_workflow(http, worker.url, {"name": "bad", "steps": [
        {"id": "x", "type": "transform", "config": {"fields": {"v": "{{input.missing.deep}}"}}},
        {"id": "fail", "type": "webhook", "config": {"url": sink.url("/gone"),
                                                     "method": "POST"}}],
        "retry": {"max_retries": 0}}, tenant="lists")
    sink.fail_next("/gone", times=3, status=404)
    ids = []
    for i in range(5):
        r = await http.post(f"{worker.url}/api/workflows/{good}/run?wait=true",
                            json={"input": {"email": f"{i}@x"}}, headers=tenant)
        ids.append(r.json()["runId"])
    for _ in range(3):
        r = await http.post(f"{worker.url}/api/workflows/{bad}/run?wait=true",
                            json={"input": {}}, headers=tenant)
        assert r.json()["status"] == "failed"
        ids.append(r.json()["runId"])
    await projected(http, worker.url, ids[-1], "failed", tenant="lists")
    url = f"{worker.url}/api/workflows/runs"
    page = (await http.get(url, params={"limit": 3}, headers=tenant)).json()
    assert [r["runId"] for r in page["data"]] == ids[::-1][:3]
    assert page["total"] == 8 and page["hasMore"] and page["page"] == 1
    assert "stepExecutionHistory" not in page["data"][0]
    page3 = (await http.get(url, params={"page": 3, "pageSize": 3}, headers=tenant)).json()
    assert [r["runId"] for r in page3["data"]] == ids[::-1][6:] and not page3["hasMore"]
    by_offset = (await http.get(url, params={"offset": 6, "limit": 3}, headers=tenant)).json()
    assert by_offset["data"] == page3["data"]
    failed = (await http.get(url, params={"status": "failed"}, headers=tenant)).json()
    assert {r["runId"] for r in failed["data"]} == set(ids[5:])
    per_wf = (await http.get(f"{worker.url}/api/workflows/{good}/runs", headers=tenant)).json()
    assert [r["runId"] for r in per_wf["data"]] == ids[:5][::-1]
    same = (await http.get(url, params={"workflow_id": good}, headers=tenant)).json()
    assert same["data"] == per_wf["data"]
    since = (await http.get(url, params={"from": "2000-01-01T00:00:00Z",
                                         "to": str(int(time.time() * 1000) + 60_000)},
                            headers=tenant)).json()
    assert since["total"] == 8
    assert (await http.get(url, params={"from": "2999-01-01"}, headers=tenant)).json()[
        "data"] == []
    execs = (await http.get(f"{worker.url}/api/workflows/{good}/executions",
                            params={"limit": 2}, headers=tenant)).json()
    assert [e["id"] for e in execs["executions"]] == ids[:5][::-1][:2]
    first = execs["executions"][0]
    assert first["triggered_by"] == "manual" and first["status"] == "completed"
    assert [s["step_id"] for s in first["execution_log"]] == ["call", "shape"]
    assert all(isinstance(s["duration_ms"], int) for s in first["execution_log"])
    one = (await http.get(f"{worker.url}/api/workflows/{good}/executions",
                          params={"execution_id": ids[2]}, headers=tenant)).json()
    assert [e["id"] for e in one["executions"]] == [ids[2]]
    for params, field in [({"status": "nope"}, "status"), ({"from": "yesterday"}, "from"),
                          ({"page": "0"}, "page"), ({"limit": "201"}, "limit"),
                          ({"to": "2000-01-01", "from": "2001-01-01"}, "to")]:
        r = await http.get(url, params=params, headers=tenant)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (params, r.text)
    other = (await http.get(url, headers={"x-tenant-id": "someone-else"})).json()
    assert other["data"] == [] and other["total"] == 0


async def test_logs_show_each_step_execution(worker: WorkerProcess, sink: Sink,
                                             http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, worker.url, two_steps(sink, "logs"))
    sink.fail_next("/call", times=1, status=502)
    run = await run_and_wait(http, worker.url, wf, {"email": "l@b.c"})
    for url in (f"{worker.url}/api/workflows/runs/{run['runId']}/logs",
                f"{worker.url}/api/workflows/logs?run_id={run['runId']}"):
        body = (await http.get(url)).json()
        logs = body["logs"]
        assert [(e["stepId"], e["attempt"], e["status"]) for e in logs] == [
            ("call", 1, "failed"), ("call", 2, "completed"), ("shape", 1, "completed")]
        assert logs[0]["httpStatus"] == 502 and "HTTP 502" in logs[0]["error"]
        assert logs[0]["output"]["body"]["error"] == "injected failure"
        assert logs[1]["httpStatus"] == 200 and logs[1]["request"]["method"] == "POST"
        assert logs[1]["startTime"] and logs[1]["endTime"] and logs[1]["duration"] >= 0
    missing = await http.get(f"{worker.url}/api/workflows/logs")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "run_id"
    hidden = await http.get(f"{worker.url}/api/workflows/runs/{run['runId']}/logs",
                            headers={"x-tenant-id": "intruder"})
    assert hidden.status_code == 404


async def test_cancel_waits_for_the_step_in_flight_terminate_does_not(
        worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, worker.url, two_steps(sink, "stop", delay_ms=1500))
    a = (await http.post(f"{worker.url}/api/workflows/{wf}/run", json={"input": {}})).json()
    b = (await http.post(f"{worker.url}/api/workflows/{wf}/run", json={"input": {}})).json()
    await wait_status(http, worker.url, a["runId"], {"running"})
    await wait_status(http, worker.url, b["runId"], {"running"})
    await asyncio.sleep(0.3)
    cancel = await http.post(f"{worker.url}/api/workflows/runs/{a['runId']}/cancel",
                             json={"reason": "not needed"})
    assert cancel.status_code == 202 and cancel.json()["cancelRequested"] is True
    terminate = await http.post(f"{worker.url}/api/workflow/management/terminate",
                                json={"runId": b["runId"], "reason": "stuck"})
    assert terminate.status_code == 200 and terminate.json()["status"] == "terminated"
    assert terminate.json()["stepExecutionHistory"][0]["status"] == "terminated"
    done = await wait_status(http, worker.url, a["runId"], {"cancelled"}, timeout=10)
    assert done["error"] == "not needed"
    assert [(s["stepId"], s["status"]) for s in done["stepExecutionHistory"]] == [
        ("call", "completed")]  # its result was recorded; "shape" never ran
    await asyncio.sleep(2.0)  # b's call has answered by now: its late result is ignored
    late = (await http.get(f"{worker.url}/api/workflows/runs/{b['runId']}")).json()
    assert late["status"] == "terminated"
    assert late["stepExecutionHistory"][0]["status"] == "terminated"
    again = await http.post(f"{worker.url}/api/workflows/runs/{b['runId']}/cancel")
    assert again.status_code == 409
    bad = await http.post(f"{worker.url}/api/workflow/management/cancel", json={})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "runId"


async def test_pending_runs_clear_and_delete(worker: WorkerProcess, sink: Sink,
                                             http: httpx.AsyncClient) -> None:
    tenant = {"x-tenant-id": "pending"}
    wf = await create_workflow(http, worker.url, {"name": "slow", "steps": [
        {"id": "wait", "type": "delay", "config": {"seconds": 60}}]}, tenant="pending")
    ids = [(await http.post(f"{worker.url}/api/workflows/{wf}/run", json={"input": {}},
                            headers=tenant)).json()["runId"] for _ in range(3)]
    for run_id in ids:
        await projected(http, worker.url, run_id, "running", tenant="pending")
    pending = (await http.get(f"{worker.url}/api/workflows/runs/pending",
                              headers=tenant)).json()
    assert {r["runId"] for r in pending["data"]} == set(ids)
    active = await http.delete(f"{worker.url}/api/workflows/runs/{ids[0]}", headers=tenant)
    assert active.status_code == 409
    cleared = await http.post(f"{worker.url}/api/workflows/runs/clear", headers=tenant)
    assert cleared.status_code == 200 and cleared.json()["cancelled"] == 3
    for run_id in ids:
        await projected(http, worker.url, run_id, "cancelled", tenant="pending")
    pending = (await http.get(f"{worker.url}/api/workflows/runs/pending",
                              headers=tenant)).json()
    assert pending["data"] == []
    wrong = await http.delete(f"{worker.url}/api/workflows/runs/{ids[0]}")
    assert wrong.status_code == 404  # another tenant
    gone = await http.delete(f"{worker.url}/api/workflows/runs/{ids[0]}", headers=tenant)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert (await http.get(f"{worker.url}/api/workflows/runs/{ids[0]}",
                           headers=tenant)).status_code == 404
    listed = (await http.get(f"{worker.url}/api/workflows/runs", headers=tenant)).json()
    assert {r["runId"] for r in listed["data"]} == set(ids[1:])


async def test_health_figures_and_deleting_a_workflow_deletes_its_history(
        worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    tenant = {"x-tenant-id": "health"}
    wf = await create_workflow(http, worker.url, two_steps(sink, "health"), tenant="health")
    run_ids = []
    for i in range(4):
        if i == 3:
            sink.fail_next("/call", times=3, status=500)
        r = await http.post(f"{worker.url}/api/workflows/{wf}/run?wait=true",
                            json={"input": {"email": f"{i}@h"}}, headers=tenant)
        run_ids.append(r.json()["runId"])
    await projected(http, worker.url, run_ids[-1], "failed", tenant="health")
    health = (await http.get(f"{worker.url}/api/workflows/{wf}/health", headers=tenant)).json()
    assert (health["totalRuns24h"], health["successRuns24h"], health["failedRuns24h"]) == (
        4, 3, 1)
    assert health["totalRuns30d"] == 4 and health["successRatePercent"] == 75.0
    assert health["averageDurationMs"] > 0 and health["lastRunAt"]
    assert "500" in health["lastError"] and health["lastStatus"] == "failed"
    hidden = await http.get(f"{worker.url}/api/workflows/{wf}/health")
    assert hidden.status_code == 404
    assert (await http.delete(f"{worker.url}/api/workflows/{wf}", headers=tenant)
            ).status_code == 200  # archived: its history stays
    listed = (await http.get(f"{worker.url}/api/workflows/runs", headers=tenant)).json()
    assert len(listed["data"]) == 4
    assert (await http.delete(f"{worker.url}/api/workflows/{wf}/permanent", headers=tenant)
            ).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = (await http.get(f"{worker.url}/api/workflows/runs", headers=tenant)).json()
        if not listed["data"]:
            break
        await asyncio.sleep(0.1)
    assert listed["data"] == []


async def test_a_deleted_store_is_rebuilt_from_the_topics(
        spawn_worker: Any, sink: Sink, http: httpx.AsyncClient) -> None:
    first = spawn_worker()
    wf = await create_workflow(http, first.url, two_steps(sink, "rebuild"))
    ids = [(await run_and_wait(http, first.url, wf, {"email": f"{i}@r"}))["runId"]
           for i in range(10)]
    await projected(http, first.url, ids[-1], "completed")
    before = (await http.get(f"{first.url}/api/workflows/runs")).json()["data"]
    first.stop()
    store = first.home / "workers" / f"{first.app_id}-{first.port}"
    for path in store.glob("history.sqlite3*"):
        path.unlink()
    first.start()
    await projected(http, first.url, ids[0], "completed")
    await projected(http, first.url, ids[-1], "completed")
    after = (await http.get(f"{first.url}/api/workflows/runs")).json()["data"]
    assert after == before and len(after) == 10
