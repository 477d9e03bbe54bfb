"""Reference shapes end to end: 004's /api/v4/workflows and 002's bodies, on a real worker.

Each alias maps onto a canonical handler (api/aliases.py); these tests check the
mapping both ways (what the canonical API then shows, what the alias answers)
and that errors name the field the caller sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from bench.sink import Sink
from dev.workers import WorkerProcess
from tests.helpers import wait_status

V4 = "/api/v4/workflows"


async def _eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_004_workflow_steps_test_run_logs_health_and_delete(
        shared_worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink) -> None:
    base = shared_worker.url + V4
    created = await http.post(base, json={
        "Name": "Calls", "Description": "on every new call", "TriggerEventType": 0,
        "MaxRetryCount": 9, "RetryBackoffBaseSeconds": 2})
    assert created.status_code == 201, created.text
    wf = created.json()
    assert isinstance(wf["WorkflowId"], str) and wf["Steps"] == []
    assert (wf["Name"], wf["TriggerEventType"], wf["IsEnabled"]) == ("Calls", 0, True)
    assert (wf["MaxRetryCount"], wf["RetryBackoffBaseSeconds"]) == (5, 2)  # clamped to 5
    wf_id = wf["WorkflowId"]
    canonical = (await http.get(f"{shared_worker.url}/api/workflows/{wf_id}")).json()
    assert canonical["trigger"] == {"type": "event", "event": "CallAdded"}
    assert canonical["retry"] == {"max_retries": 5, "backoff_seconds": 2}

    # steps: CallApiPost is a webhook step with that method; OutputTemplate is its body
    step = await http.post(f"{base}/{wf_id}/steps", json={
        "ActionType": 3, "StepOrder": 1, "OutputTemplate": '{"call": "{{input.id}}"}',
        "ActionConfig": json.dumps({"url": sink.url("/v4-call")})})
    assert step.status_code == 201, step.text
    step_id = step.json()["WorkflowStepId"]
    assert (step.json()["ActionType"], step.json()["StepOrder"]) == (3, 1)
    assert json.loads(step.json()["ActionConfig"]) == {"url": sink.url("/v4-call")}
    steps = (await http.get(f"{shared_worker.url}/api/workflows/{wf_id}/steps")).json()
    assert steps["data"][0]["type"] == "webhook"
    assert steps["data"][0]["config"]["method"] == "POST"
    assert steps["data"][0]["config"]["body"] == {"call": "{{input.id}}"}

    # errors name 004's fields
    for body, field in (
            ({"ActionType": 6, "StepOrder": 2, "OutputTemplate": "hi"}, "WorkflowCredentialId"),
            ({"ActionType": 0, "StepOrder": 2, "OutputTemplate": "hi"}, "WorkflowCredentialId"),
            ({"ActionType": 99, "StepOrder": 2, "OutputTemplate": ""}, "ActionType"),
            ({"ActionType": 2, "StepOrder": 2, "ActionConfig": "{nope"}, "ActionConfig"),
            ({"ActionType": 2, "StepOrder": 2, "ActionConfig": "{}"}, "ActionConfig.url"),
            ({"ActionType": 2, "StepOrder": 0, "ActionConfig": "{}"}, "StepOrder"),
            ({"ActionType": 2, "IsEnabled": False, "ActionConfig": "{}"}, "IsEnabled")):
        refused = await http.post(f"{base}/{wf_id}/steps", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"]["field"] == field, (body, refused.text)
    for body, field in (({"TriggerEventType": 1}, "Name"),
                        ({"Name": "x", "TriggerEventType": 28}, "TriggerEventType"),
                        ({"Name": "x" * 300, "TriggerEventType": 1}, "Name"),
                        ({"Name": "x", "TriggerEventType": 1, "MaxRetryCount": -1},
                         "MaxRetryCount"),
                        ({"Name": "x", "TriggerEventType": 1, "RetryBackoffBaseSeconds": 1e9},
                         "RetryBackoffBaseSeconds")):
        refused = await http.post(base, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"]["field"] == field, (body, refused.text)

    # PUT step: CallApiPut now; PUT workflow keeps the steps
    replaced = await http.put(f"{base}/{wf_id}/steps/{step_id}", json={
        "ActionType": 4, "StepOrder": 1, "OutputTemplate": '{"call": "{{input.id}}"}',
        "ActionConfig": json.dumps({"url": sink.url("/v4-call")})})
    assert replaced.status_code == 200 and replaced.json()["ActionType"] == 4, replaced.text
    updated = await http.put(f"{base}/{wf_id}", json={
        "Name": "Calls closed", "TriggerEventType": "CallClosed", "MaxRetryCount": 1,
        "IsEnabled": True})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["Name"], updated.json()["TriggerEventType"],
            updated.json()["MaxRetryCount"]) == ("Calls closed", 2, 1)
    assert [s["WorkflowStepId"] for s in updated.json()["Steps"]] == [step_id]
    got = (await http.get(f"{base}/{wf_id}")).json()
    assert got["Steps"][0]["ActionType"] == 4 and got["Version"] == 4
    assert any(w["WorkflowId"] == wf_id for w in (await http.get(base)).json())

    # a test run with the caller's payload, waited for
    tested = await http.post(f"{base}/{wf_id}/test", json={"EventPayloadJson": '{"id": "c1"}'})
    assert tested.status_code == 200, tested.text
    run = tested.json()
    assert (run["Status"], run["StatusName"], run["InputPayload"]) == (2, "completed",
                                                                       {"id": "c1"})
    call = [r for r in sink.received if r.path == "/v4-call"][-1]
    assert (call.method, call.body) == ("PUT", {"call": "c1"})
    sample = (await http.post(f"{base}/{wf_id}/test", json={})).json()
    assert sample["InputPayload"]["EventName"] == "CallClosed"
    assert (await http.post(f"{base}/{wf_id}/test", json={"EventPayloadJson": "[1]"})
            ).json()["error"]["field"] == "EventPayloadJson"

    # runs, logs, pending, cancel, clear, health
    run_id = run["WorkflowRunId"]

    async def listed() -> list[Any]:
        page = (await http.get(f"{base}/{wf_id}/runs", params={"pageSize": 5})).json()
        return [r for r in page if r["WorkflowRunId"] == run_id and r["Status"] == 2]

    assert await _eventually(listed), "the test run never reached the run list"
    everything = (await http.get(f"{base}/runs", params={"page": 1, "pageSize": 50})).json()
    assert run_id in {r["WorkflowRunId"] for r in everything}
    logs = (await http.get(f"{base}/runs/{run_id}/logs")).json()
    assert [(entry["WorkflowStepId"], entry["Status"]) for entry in logs] == [(step_id, 2)]
    assert logs[0]["ActionResult"] == "HTTP 200" and logs[0]["DurationMs"] >= 0
    assert isinstance((await http.get(f"{base}/runs/pending")).json(), list)
    again = await http.post(f"{base}/runs/{run_id}/cancel")
    assert again.status_code == 409, again.text  # already completed
    cleared = await http.post(f"{base}/runs/clear")
    assert cleared.status_code == 200 and isinstance(cleared.json()["Count"], int)

    # health counts real runs only: the test runs above are left out
    for _ in range(2):
        real = await http.post(f"{shared_worker.url}/api/workflows/{wf_id}/run",
                               params={"wait": "true"}, json={"input": {"id": "c2"}})
        assert real.status_code == 200 and real.json()["status"] == "completed", real.text

    async def healthy() -> dict[str, Any] | None:
        body = (await http.get(f"{base}/{wf_id}/health")).json()
        return body if body["SuccessRuns24h"] >= 2 else None

    health = await _eventually(healthy)
    assert health and health["TotalRuns24h"] == 2 and health["LastRunOn"]
    assert set(health) >= {"TotalRuns7d", "FailedRuns30d", "SuccessRatePercent",
                           "AverageDurationMs", "LastError"}

    types = (await http.get(f"{base}/eventtypes")).json()
    assert len(types) == 32 and types[27]["Name"] == "GroupUpdated"  # then 002's four
    assert types[28]["Name"] == "document.uploaded" and types[28]["Value"] is None

    # delete a step, then the workflow: an owner deletes it for good
    gone = await http.delete(f"{base}/{wf_id}/steps/{step_id}")
    assert gone.status_code == 200 and gone.json()["Deleted"], gone.text
    deleted = await http.delete(f"{base}/{wf_id}")
    assert deleted.status_code == 200 and deleted.json()["Permanent"] is True, deleted.text
    assert (await http.get(f"{base}/{wf_id}")).status_code == 404
    assert (await http.get(f"{shared_worker.url}/api/workflows/{wf_id}")).status_code == 404


async def test_004_delete_by_an_admin_archives(
        shared_worker: WorkerProcess, http: httpx.AsyncClient, key_auth: Any) -> None:
    base = shared_worker.url + V4
    wf_id = (await http.post(base, json={"Name": "Keep", "TriggerEventType": 5})
             ).json()["WorkflowId"]
    admin = await key_auth.key(shared_worker.url, shared_worker.port, "default", role="admin")
    deleted = await http.delete(f"{base}/{wf_id}", headers={"x-api-key": admin,
                                                            "x-tenant-id": "default"})
    assert deleted.status_code == 200, deleted.text
    assert (deleted.json()["Permanent"], deleted.json()["Status"]) == (False, "archived")
    canonical = (await http.get(f"{shared_worker.url}/api/workflows/{wf_id}")).json()
    assert canonical["status"] == "archived"
    member = await key_auth.key(shared_worker.url, shared_worker.port, "default", role="member")
    refused = await http.delete(f"{base}/{wf_id}", headers={"x-api-key": member,
                                                            "x-tenant-id": "default"})
    assert refused.status_code == 403


async def test_002_definition_trigger_type_execute(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    body = {"name": "Invoice Processing", "description": "extract invoices",
            "definition": {"steps": [{"id": "shape", "type": "transform",
                                      "config": {"fields": {"doc": "{{input.document_id}}"}}}]},
            "trigger_type": "event",
            "trigger_config": {"event": "document.uploaded", "filters": {"file_type": "pdf"}},
            "enabled": True}
    created = await http.post(f"{base}/api/workflows", json=body)
    assert created.status_code == 201, created.text
    wf = created.json()
    assert wf["trigger"] == {"type": "event", "event": "document.uploaded",
                             "filters": {"file_type": "pdf"}}
    assert (wf["trigger_type"], wf["trigger_config"]["event"], wf["enabled"]) == (
        "event", "document.uploaded", True)
    assert wf["created_at"] == wf["createdAt"] and wf["steps"][0]["id"] == "shape"

    listed = (await http.get(f"{base}/api/workflows", params={"limit": 200})).json()
    assert listed["workflows"] == listed["data"]
    assert any(w["id"] == wf["id"] and w["trigger_type"] == "event" for w in listed["workflows"])

    put = await http.put(f"{base}/api/workflows/{wf['id']}", json={
        **body, "trigger_type": "manual", "trigger_config": {}})
    assert put.status_code == 200 and put.json()["trigger"] == {"type": "manual"}, put.text
    for bad, field in (({**body, "trigger_type": "cron"}, "trigger_type"),
                       ({**body, "definition": []}, "definition"),
                       ({**body, "trigger_config": "x"}, "trigger_config"),
                       ({**body, "steps": []}, "definition.steps")):
        refused = await http.post(f"{base}/api/workflows", json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, \
            refused.text

    executed = await http.post(f"{base}/api/workflows/{wf['id']}/execute",
                               json={"trigger_data": {"document_id": "doc-1"}})
    assert executed.status_code in (200, 202), executed.text
    answer = executed.json()
    assert set(answer) >= {"execution_id", "status", "started_at"}
    run = await wait_status(http, base, answer["execution_id"], {"completed"})
    assert run["result"] == {"doc": "doc-1"}
    bad = await http.post(f"{base}/api/workflows/{wf['id']}/execute",
                          json={"trigger_data": [1]})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "trigger_data"
