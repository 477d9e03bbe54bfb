"""Platform events, monitor events and test runs on a real broker and a real worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dev.workers import WorkerProcess
from schemas import codec
from tests.helpers import create_workflow

ECHO = [{"id": "echo", "type": "transform", "config": {"fields": {
    "id": "{{event.id}}", "file": "{{event.data.file_type}}", "kb": "{{event.data.kb}}"}}}]


def _event_workflow(name: str, event: str, filters: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "event", "event": event}
    if filters is not None:
        trigger["filters"] = filters
    return {"name": name, "trigger": trigger, "steps": ECHO}


async def _runs(http: httpx.AsyncClient, base: str, workflow_id: str, tenant: str,
                **params: str) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/api/workflows/runs", headers={"x-tenant-id": tenant},
                              params={"workflow_id": workflow_id, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def _eventually_runs(http: httpx.AsyncClient, base: str, workflow_id: str, tenant: str,
                           count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = await _runs(http, base, workflow_id, tenant)
        if len(runs) >= count and all(r["status"] == "completed" for r in runs):
            return runs
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id}: wanted {count} completed runs, have {runs}")


async def _publish(http: httpx.AsyncClient, base: str, tenant: str, event: dict[str, Any]
                   ) -> str:
    response = await http.post(f"{base}/api/events", json=event,
                               headers={"x-tenant-id": tenant})
    assert response.status_code == 202, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def _result(http: httpx.AsyncClient, base: str, tenant: str, run_id: str
                  ) -> dict[str, Any]:
    response = await http.get(f"{base}/api/workflows/runs/{run_id}",
                              headers={"x-tenant-id": tenant})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_an_event_starts_each_subscribed_workflow_once(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"ev-{uuid.uuid4().hex[:8]}"
    pdfs = await create_workflow(http, base, _event_workflow(
        "pdfs", "document.uploaded", {"file_type": ["pdf", "docx"], "kb": "kb-1"}), tenant)
    every = await create_workflow(http, base, _event_workflow("all", "document.uploaded"),
                                  tenant)
    other = await create_workflow(http, base, _event_workflow("chat", "chat.message"), tenant)
    manual = await create_workflow(http, base, {"name": "manual", "steps": ECHO}, tenant)

    first = await _publish(http, base, tenant, {
        "type": "document.uploaded", "source": "docs-svc", "id": f"e-{uuid.uuid4().hex}",
        "data": {"file_type": "pdf", "kb": "kb-1"}})
    txt = await _publish(http, base, tenant, {  # matches `every` only (filters)
        "type": "document.uploaded", "data": {"file_type": "txt", "kb": "kb-1"}})
    [pdf_run] = await _eventually_runs(http, base, pdfs, tenant, 1)
    every_runs = await _eventually_runs(http, base, every, tenant, 2)
    run = await _result(http, base, tenant, pdf_run["runId"])
    assert run["trigger"] == "event"
    assert run["result"] == {"id": first, "file": "pdf", "kb": "kb-1"}  # the event in templates
    assert run["input"]["type"] == "document.uploaded" and run["input"]["tenant"] == tenant
    files = sorted([(await _result(http, base, tenant, r["runId"]))["result"]["file"]
                    for r in every_runs])
    assert files == ["pdf", "txt"] and txt != first

    # the same event id again starts nothing new; a later marker event proves it was read
    await _publish(http, base, tenant, {"type": "document.uploaded", "id": first,
                                        "data": {"file_type": "pdf", "kb": "kb-1"}})
    await _publish(http, base, tenant, {"type": "chat.message", "data": {"text": "hi"}})
    await _eventually_runs(http, base, other, tenant, 1)
    assert len(await _runs(http, base, pdfs, tenant)) == 1
    assert len(await _runs(http, base, every, tenant)) == 2
    assert await _runs(http, base, manual, tenant) == []
    assert len(await _runs(http, base, other, tenant)) == 1

    # bad input names the field; a tenant other than the caller's is refused
    bad = await http.post(f"{base}/api/events", json={"data": {}},
                          headers={"x-tenant-id": tenant})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "type", bad.text
    bad = await http.post(f"{base}/api/events", json={"type": "chat.message", "tenant": "x"},
                          headers={"x-tenant-id": tenant})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "tenant", bad.text


async def test_malformed_records_dead_lettered_and_unknown_types_counted(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    topic = f"{shared_worker.app_id}.platform-events"
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{not json", key=b"t")
        await producer.send_and_wait(topic, orjson.dumps({"type": "chat.message",
                                                          "tenant": "t"}), key=b"t")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{shared_worker.app_id}.dead-letters",
                                bootstrap_servers=shared_worker.bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        letters: list[dict[str, Any]] = []
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                letters += [codec("dead_letter").decode(r.value) for r in records]
            if len([x for x in letters if x["topic"] == topic]) >= 2:
                break
    finally:
        await consumer.stop()
    mine = [x for x in letters if x["topic"] == topic]
    assert len(mine) == 2, letters
    assert mine[0]["value"] == b"{not json" and "not JSON" in mine[0]["reason"]
    assert "id is required" in mine[1]["reason"]

    metric = 'hopflow_events_unmatched_total{type="unknown"}'

    async def unmatched() -> float:
        text = (await http.get(f"{base}/metrics")).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(metric))

    before = await unmatched()
    await _publish(http, base, "default", {"type": "no.such.type", "data": {}})
    deadline = time.monotonic() + 30
    while await unmatched() < before + 1:
        assert time.monotonic() < deadline, "unknown event type not counted"
        await asyncio.sleep(0.2)


async def test_a_monitor_event_starts_its_workflow(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"mon-{uuid.uuid4().hex[:8]}"
    steps = [{"id": "echo", "type": "transform", "config": {"fields": {
        "monitor": "{{event.monitor_id}}", "change": "{{event.change_type}}"}}}]
    watched = await create_workflow(http, base, {"name": "prices", "steps": steps, "trigger": {
        "type": "monitor_event", "monitor_id": "m-1", "change_types": ["price_changed"]}},
        tenant)
    topic = f"{shared_worker.app_id}.monitor-events"
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        for event_id, change in (("a", "removed"), ("b", "price_changed"),
                                 ("b", "price_changed")):
            await producer.send_and_wait(topic, orjson.dumps({
                "id": f"{tenant}-{event_id}", "tenant": tenant, "monitor_id": "m-1",
                "change_type": change, "data": {"price": 3}}), key=tenant.encode())
    finally:
        await producer.stop()
    [run] = await _eventually_runs(http, base, watched, tenant, 1)
    detail = await _result(http, base, tenant, run["runId"])
    assert detail["trigger"] == "monitor_event"
    assert detail["result"] == {"monitor": "m-1", "change": "price_changed"}


async def test_test_runs_with_and_without_payload_are_marked(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"tst-{uuid.uuid4().hex[:8]}"
    headers = {"x-tenant-id": tenant}
    wf = await create_workflow(http, base, _event_workflow("t", "document.uploaded"), tenant)
    given = await http.post(f"{base}/api/workflows/{wf}/test", headers=headers, json={
        "payload": {"id": "mine", "data": {"file_type": "png", "kb": "k"}}})
    assert given.status_code == 200, given.text
    assert given.json()["trigger"] == "test"
    assert given.json()["result"] == {"id": "mine", "file": "png", "kb": "k"}
    sample = await http.post(f"{base}/api/workflows/{wf}/test", headers=headers)
    assert sample.status_code == 200, sample.text
    assert sample.json()["input"]["sample"] is True
    assert sample.json()["result"]["file"] == "pdf"  # document.uploaded's sample data
    v4 = await http.post(f"{base}/api/v4/workflows/{wf}/test", headers=headers, json={})
    assert v4.status_code == 200 and v4.json()["InputPayload"]["EventName"] is None, v4.text

    # visible in history with ?trigger=test; a manual run is not a test; health leaves tests out
    manual = await http.post(f"{base}/api/workflows/{wf}/run", headers=headers,
                             params={"wait": "true"}, json={"input": {}})
    assert manual.status_code == 200 and manual.json()["status"] == "completed", manual.text
    deadline = time.monotonic() + 30
    while True:
        tests = await _runs(http, base, wf, tenant, trigger="test")
        everything = await _runs(http, base, wf, tenant)
        if len(tests) == 3 and len(everything) == 4:
            break
        assert time.monotonic() < deadline, (tests, everything)
        await asyncio.sleep(0.2)
    assert {r["trigger"] for r in tests} == {"test"}
    health = (await http.get(f"{base}/api/workflows/{wf}/health", headers=headers)).json()
    assert (health["totalRuns24h"], health["successRuns24h"]) == (1, 1), health
