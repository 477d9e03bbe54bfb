"""End to end against a real broker and a real worker process: workflows and runs."""

from __future__ import annotations

import asyncio

import httpx

from bench.sink import Sink
from dev.workers import WorkerProcess
from tests.helpers import create_workflow, get_run, run_and_wait, wait_status


def webhook(step_id: str, url: str, **extra) -> dict:
    return {"id": step_id, "type": "webhook",
            "config": {"url": url, "method": "POST", "body": {"email": "{{input.email}}"},
                       **extra}}


async def test_linear_run_through_every_step_type(shared_worker: WorkerProcess, sink: Sink,
                                                  http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "leads", "steps": [
        webhook("lookup", sink.url("/lookup")),
        {"id": "shape", "type": "transform", "config": {"fields": {
            "email": "{{input.email}}", "company": "{{steps.lookup.body.company}}",
            "greeting": "Hello {{input.email}} from {{steps.lookup.body.company}}"}}},
        {"id": "pause", "type": "delay", "config": {"duration": "200ms"}},
        {"id": "notify", "type": "webhook", "config": {
            "url": sink.url("/sink"), "method": "POST",
            "headers": {"Authorization": "Bearer very-secret"},
            "body": {"company": "{{steps.shape.company}}"}}},
    ]})
    run = await run_and_wait(http, base, wf, {"email": "jane@acme.com"})
    assert run["status"] == "completed", run
    steps = run["stepExecutionHistory"]
    assert [s["stepId"] for s in steps] == ["lookup", "shape", "pause", "notify"]
    assert all(s["status"] == "completed" and s["attempt"] == 1 for s in steps)
    assert steps[1]["output"] == {"email": "jane@acme.com", "company": "acme",
                                  "greeting": "Hello jane@acme.com from acme"}
    assert steps[2]["output"]["waited_ms"] >= 200
    assert run["result"] == {"status": 200, "body": {"ok": True}}
    assert steps[3]["request"]["headers"]["Authorization"] == "••••••"
    assert "very-secret" not in (await get_run(http, base, run["runId"])).text
    other_tenant = await http.get(f"{base}/api/workflows/runs/{run['runId']}",
                                  headers={"x-tenant-id": "intruder"})
    assert other_tenant.status_code == 404
    raw_table = await http.get(f"{base}/table/runs/{run['runId']}/")
    assert raw_table.status_code == 404  # Faust's raw table views are not served
    received = [r for r in sink.received if r.path == "/sink"][-1]
    assert received.body == {"company": "acme"}
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["authorization"] == "Bearer very-secret"
    assert headers["idempotency-key"] == f"{run['runId']}:notify:1"
    assert run["duration"] >= 200 and run["endTime"] >= run["startTime"]


async def test_condition_branches_to_different_steps(shared_worker: WorkerProcess,
                                                     http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "branch", "steps": [
        {"id": "check", "type": "condition", "config": {
            "field": "input.score", "op": "gte", "value": 50, "then": "hot", "else": "cold"}},
        {"id": "hot", "type": "transform", "next": None, "config": {"fields": {"lead": "hot"}}},
        {"id": "cold", "type": "transform", "config": {"fields": {"lead": "cold"}}},
    ]})
    hot = await run_and_wait(http, base, wf, {"score": 80})
    cold = await run_and_wait(http, base, wf, {"score": 10})
    assert [s["stepId"] for s in hot["stepExecutionHistory"]] == ["check", "hot"]
    assert [s["stepId"] for s in cold["stepExecutionHistory"]] == ["check", "cold"]
    assert hot["result"] == {"lead": "hot"} and cold["result"] == {"lead": "cold"}


async def test_graph_form_with_edge_conditions(shared_worker: WorkerProcess,
                                               http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {
        "name": "graph", "initialStep": "start",
        "steps": [{"id": "start", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}},
                  {"id": "big", "type": "transform", "config": {"fields": {"size": "big"}}},
                  {"id": "small", "type": "transform", "config": {"fields": {"size": "small"}}}],
        "edges": [{"from": "start", "to": "big",
                   "condition": {"field": "steps.start.n", "op": "gt", "value": 10}},
                  {"from": "start", "to": "small"}]})
    assert (await run_and_wait(http, base, wf, {"n": 11}))["result"] == {"size": "big"}
    assert (await run_and_wait(http, base, wf, {"n": 1}))["result"] == {"size": "small"}


async def test_retries_with_backoff_then_success_or_failure(
        shared_worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {
        "name": "flaky", "retry": {"max_retries": 2, "backoff_seconds": 0.2},
        "steps": [webhook("call", sink.url("/flaky"))]})
    sink.fail_next("/flaky", times=2, status=503)
    ok = await run_and_wait(http, base, wf, {"email": "a@b.c"})
    assert ok["status"] == "completed"
    attempts = ok["stepExecutionHistory"]
    assert [(s["attempt"], s["status"]) for s in attempts] == \
        [(1, "failed"), (2, "failed"), (3, "completed")]
    assert "HTTP 503" in attempts[0]["error"]
    # backoff is a timer: 0.2 s then 0.4 s between attempts
    gap1 = _ms(attempts[1]["startTime"]) - _ms(attempts[0]["endTime"])
    gap2 = _ms(attempts[2]["startTime"]) - _ms(attempts[1]["endTime"])
    assert gap1 >= 190 and gap2 >= 390, (gap1, gap2)

    sink.fail_next("/flaky", times=5, status=500)
    failed = await run_and_wait(http, base, wf, {"email": "a@b.c"})
    assert failed["status"] == "failed"
    assert len(failed["stepExecutionHistory"]) == 3
    assert "failed after 3 attempts" in failed["error"] and "HTTP 500" in failed["error"]


async def test_client_errors_are_not_retried(shared_worker: WorkerProcess, sink: Sink,
                                             http: httpx.AsyncClient) -> None:
    wf = await create_workflow(http, shared_worker.url, {
        "name": "bad-request", "steps": [webhook("call", sink.url("/reject"))]})
    sink.fail_next("/reject", times=1, status=422)
    run = await run_and_wait(http, shared_worker.url, wf, {"email": "a@b.c"})
    assert run["status"] == "failed" and len(run["stepExecutionHistory"]) == 1
    assert "HTTP 422" in run["error"]


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def test_idempotency_key_reuse(shared_worker: WorkerProcess, sink: Sink,
                                     http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "once", "steps": [
        webhook("call", sink.url("/once"))]})
    url = f"{base}/api/workflows/{wf}/run"
    headers = {"Idempotency-Key": "order-42"}
    first, second = await asyncio.gather(
        http.post(url, json={"input": {"email": "a@b.c"}}, headers=headers),
        http.post(url, json={"input": {"email": "a@b.c"}}, headers=headers))
    assert first.status_code in (200, 202) and second.status_code in (200, 202)
    assert first.json()["runId"] == second.json()["runId"]
    run_id = first.json()["runId"]
    await wait_status(http, base, run_id, {"completed"})
    third = await http.post(url, params={"wait": "true"}, json={"input": {"email": "a@b.c"}},
                            headers=headers)
    assert third.status_code == 200 and third.json()["runId"] == run_id
    assert third.json()["status"] == "completed"
    assert sink.counts["/once"] == 1
    other = await http.post(url, json={"input": {"email": "other@b.c"}}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["field"] == "Idempotency-Key"


async def test_cancel_a_running_run(shared_worker: WorkerProcess, http: httpx.AsyncClient
                                    ) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "slow", "steps": [
        {"id": "wait", "type": "delay", "config": {"seconds": 30}},
        {"id": "after", "type": "transform", "config": {"fields": {"x": 1}}}]})
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    assert started.status_code == 202 and started.json()["status"] == "pending"
    run_id = started.json()["runId"]
    running = await wait_status(http, base, run_id, {"running"})
    assert running["currentStepId"] == "wait"
    cancelled = await http.post(f"{base}/api/workflows/runs/{run_id}/cancel",
                                json={"reason": "changed my mind"})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["error"] == "changed my mind"
    assert body["stepExecutionHistory"][-1]["status"] == "cancelled"
    again = await http.post(f"{base}/api/workflows/runs/{run_id}/cancel")
    assert again.status_code == 409
    await asyncio.sleep(0.5)
    assert (await get_run(http, base, run_id)).json()["status"] == "cancelled"


async def test_workflow_crud_and_versions(shared_worker: WorkerProcess,
                                          http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    tenant = {"x-tenant-id": "acme"}
    definition = {"name": "crud", "description": "v1",
                  "steps": [{"id": "a", "type": "transform", "config": {"fields": {"v": 1}}}]}
    created = await http.post(f"{base}/api/workflows", json=definition, headers=tenant)
    assert created.status_code == 201
    wf = created.json()
    assert wf["version"] == 1 and wf["name"] == "crud"
    got = await http.get(f"{base}/api/workflows/{wf['id']}", headers=tenant)
    assert got.status_code == 200 and got.json()["steps"] == definition["steps"]
    assert (await http.get(f"{base}/api/workflows/{wf['id']}")).status_code == 404  # tenant
    updated = await http.put(f"{base}/api/workflows/{wf['id']}", headers=tenant,
                             json={**definition, "description": "v2"})
    assert updated.status_code == 200
    assert updated.json()["version"] == 2 and updated.json()["description"] == "v2"
    for i in range(3):
        await http.post(f"{base}/api/workflows", json={**definition, "name": f"more-{i}"},
                        headers=tenant)
    page = (await http.get(f"{base}/api/workflows", params={"limit": 2, "page": 2},
                           headers=tenant)).json()
    assert page["total"] == 4 and page["page"] == 2 and len(page["data"]) == 2
    archived = await http.delete(f"{base}/api/workflows/{wf['id']}", headers=tenant)
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    deleted = await http.delete(f"{base}/api/workflows/{wf['id']}/permanent", headers=tenant)
    assert deleted.status_code == 200
    assert (await http.get(f"{base}/api/workflows/{wf['id']}", headers=tenant)).status_code \
        == 404


async def test_validation_errors_name_the_field(shared_worker: WorkerProcess,
                                                http: httpx.AsyncClient) -> None:
    base = shared_worker.url

    async def error_of(method: str, path: str, **kwargs) -> tuple[int, dict]:
        response = await http.request(method, f"{base}{path}", **kwargs)
        return response.status_code, response.json().get("error", {})

    step = {"id": "a", "type": "transform", "config": {"fields": {}}}
    cases = [
        ({"steps": [step]}, "name"),
        ({"name": "x", "steps": [{"id": "a", "type": "teleport"}]}, "steps[0].type"),
        ({"name": "x", "steps": [step, step]}, "steps[1].id"),
        ({"name": "x", "initialStep": "a", "steps": [step],
          "edges": [{"from": "a", "to": "ghost"}]}, "edges[0].to"),
        ({"name": "x", "initialStep": "a",
          "steps": [step, {**step, "id": "b"}],
          "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}, "edges"),
    ]
    for body, field in cases:
        status, error = await error_of("POST", "/api/workflows", json=body)
        assert (status, error.get("field")) == (400, field), (body, error)
    status, error = await error_of("POST", "/api/workflows", content=b"{not json")
    assert (status, error["field"]) == (400, "body")
    status, _ = await error_of("GET", "/api/workflows/nope")
    assert status == 404
    status, _ = await error_of("POST", "/api/workflows/nope/run", json={"input": {}})
    assert status == 404
    wf = await create_workflow(http, base, {"name": "ok", "steps": [step]})
    status, error = await error_of("POST", f"/api/workflows/{wf}/run", json={"input": [1]})
    assert (status, error["field"]) == (400, "input")
    status, error = await error_of("POST", f"/api/workflows/{wf}/run", json={},
                                   headers={"x-tenant-id": "bad tenant!", "x-api-key": "hf_a_b"})
    assert (status, error["code"]) == (401, "unauthorized")
    status, _ = await error_of("GET", "/api/workflows/runs/run_missing")
    assert status == 404
    status, _ = await error_of("POST", f"/api/workflows/{wf}/run",
                               json={"input": {"blob": "x" * (2 * 1024 * 1024)}})
    assert status == 413
    big = await run_and_wait(http, base, wf, {"blob": "y" * 300_000})  # many TCP chunks
    assert big["status"] == "completed" and len(big["input"]["blob"]) == 300_000


async def test_malformed_records_are_dead_lettered_with_their_reason(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from schemas import codec

    topic = f"{shared_worker.app_id}.run-commands"
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\x00not avro at all", key=b"run_garbage")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{shared_worker.app_id}.dead-letters",
                                bootstrap_servers=shared_worker.bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        letters = []
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                letters += [codec("dead_letter").decode(r.value) for r in records]
            if letters:
                break
    finally:
        await consumer.stop()
    assert letters, "no dead letter"
    letter = letters[0]
    assert letter["topic"] == topic and letter["key"] == b"run_garbage"
    assert letter["value"] == b"\x00not avro at all"
    assert "run_command" in letter["reason"]
    # the stream goes on
    wf = await create_workflow(http, shared_worker.url, {"name": "after-garbage", "steps": [
        {"id": "a", "type": "transform", "config": {"fields": {"ok": True}}}]})
    assert (await run_and_wait(http, shared_worker.url, wf, {}))["status"] == "completed"
