"""Human steps end to end: real workers on a real broker pause, resume, time out, restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, wait_status

ONBOARDING = {"name": "onboarding", "steps": [
    {"id": "hello", "type": "transform", "config": {"fields": {"who": "{{input.name}}"}}},
    {"id": "ask", "type": "collect-inputs", "config": {
        "title": "Details for {{input.name}}", "message": "Please fill in",
        "fields": [{"name": "email", "type": "email", "required": True},
                   {"name": "seats", "type": "integer", "required": True},
                   {"name": "plan", "type": "select", "options": ["basic", "pro"]},
                   {"name": "start", "type": "date"}]}},
    {"id": "end", "type": "end-flow", "config": {"result": {
        "who": "{{steps.hello.who}}", "email": "{{steps.ask.email}}",
        "seats": "{{steps.ask.seats}}", "plan": "{{steps.ask.plan}}"}}},
    {"id": "never", "type": "transform", "config": {"fields": {"reached": True}}},
]}
APPROVAL = {"name": "approval", "initialStep": "approve", "steps": [
    {"id": "approve", "type": "request-user-action", "config": {
        "title": "Approve {{input.amount}}?", "actions": [
            {"id": "approval-action-1", "values": ["approved", "rejected"]}]}},
    {"id": "yes", "type": "transform", "config": {"fields": {"paid": True}}},
    {"id": "no", "type": "transform", "config": {"fields": {"paid": False}}}],
    "edges": [
        {"from": "approve", "to": "yes", "condition": {
            "field": "steps.approve.actionValue", "op": "equals", "value": "approved"}},
        {"from": "approve", "to": "no"}]}
TIMEOUT = {"name": "timeout", "steps": [
    {"id": "ask", "type": "collect_inputs", "config": {
        "fields": {"note": {"type": "string"}}, "timeout": "1s", "on_timeout": "late"}},
    {"id": "answered", "type": "end_flow", "config": {"result": {"late": False}}},
    {"id": "late", "type": "end_flow", "config": {"result": {"late": True}}}]}


async def start(http: httpx.AsyncClient, base: str, wf: str, data: dict[str, Any]) -> str:
    response = await http.post(f"{base}/api/workflow/start-async/{wf}", json={"data": data})
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


async def status(http: httpx.AsyncClient, base: str, run_id: str) -> dict[str, Any]:
    response = await http.get(f"{base}/api/workflow/status/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_collect_inputs_pauses_refuses_bad_answers_and_resumes(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, ONBOARDING)
    run_id = await start(http, base, wf, {"name": "Ann"})
    paused = await wait_status(http, base, run_id, {"paused"})
    body = await status(http, base, run_id)
    assert body["status"] == "paused" and body["currentStepId"] == "ask"
    signal = body["pauseSignal"]
    assert signal["type"] == "collect_inputs" and signal["stepType"] == "collect-inputs"
    assert signal["title"] == "Details for Ann" and signal["message"] == "Please fill in"
    assert [(f["name"], f["type"], f["required"]) for f in signal["fields"]] == [
        ("email", "email", True), ("seats", "integer", True), ("plan", "select", False),
        ("start", "date", False)]
    assert signal["fields"][2]["options"] == ["basic", "pro"]
    assert paused["stepExecutionHistory"][-1]["status"] == "waiting"

    resume = f"{base}/api/workflow/resume/{run_id}"
    bad = [({"type": "collect_inputs", "data": {"seats": 3}}, "data.email"),
           ({"type": "collect_inputs", "data": {"email": "a@b.io", "seats": "3"}},
            "data.seats"),
           ({"type": "collect_inputs", "data": {"email": "nope", "seats": 3}}, "data.email"),
           ({"type": "collect_inputs", "data": {"email": "a@b.io", "seats": 3,
                                                "plan": "gold"}}, "data.plan"),
           ({"type": "request_user_action", "actionId": "x", "actionValue": "y"}, "type")]
    for answer, field in bad:
        response = await http.post(resume, json=answer)
        assert response.status_code == 400, (answer, response.text)
        assert response.json()["error"]["field"] == field, response.text
        assert field in response.json()["error"]["message"]
    other = await http.post(resume, json={"type": "collect_inputs", "data": {}},
                            headers={"x-tenant-id": "someone-else"})
    assert other.status_code == 404, other.text  # another tenant's run does not exist
    assert (await status(http, base, run_id))["status"] == "paused"  # nothing was sent

    good = {"type": "collect_inputs", "data": {"email": "ann@acme.io", "seats": 3,
                                               "plan": "pro"}}
    response = await http.post(resume, json=good)
    assert response.status_code == 200, response.text
    done = await wait_status(http, base, run_id, {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["result"] == {"who": "Ann", "email": "ann@acme.io", "seats": 3, "plan": "pro"}
    assert done["pauseSignal"] is None
    steps = done["stepExecutionHistory"]
    assert [s["stepId"] for s in steps] == ["hello", "ask", "end"]
    assert steps[1]["status"] == "completed" and steps[1]["output"] == good["data"]
    again = await http.post(resume, json=good)
    assert again.status_code == 409, again.text  # not paused any more


async def test_request_user_action_branches_on_the_chosen_value_and_lists_as_paused(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, APPROVAL)
    run_id = await start(http, base, wf, {"amount": 120})
    await wait_status(http, base, run_id, {"paused"})
    signal = (await status(http, base, run_id))["pauseSignal"]
    assert signal["type"] == "request_user_action" and signal["title"] == "Approve 120?"
    assert signal["actions"][0]["id"] == "approval-action-1"
    assert signal["actions"][0]["values"] == ["approved", "rejected"]
    deadline = time.monotonic() + 20
    listed: list[str] = []
    while run_id not in listed and time.monotonic() < deadline:  # the history store follows
        page = await http.get(f"{base}/api/workflows/runs",
                              params={"status": "paused", "workflowId": wf})
        assert page.status_code == 200, page.text
        listed = [r["runId"] for r in page.json()["data"]]
        await asyncio.sleep(0.2)
    assert run_id in listed
    canonical = f"{base}/api/workflows/runs/{run_id}/resume"
    for answer, field in [({"actionId": "approval-action-2", "actionValue": "approved"},
                           "actionId"),
                          ({"actionId": "approval-action-1", "actionValue": "maybe"},
                           "actionValue")]:
        response = await http.post(canonical, json={"type": "request_user_action", **answer})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == field, response.text
    response = await http.post(canonical, json={
        "type": "request_user_action", "actionId": "approval-action-1",
        "actionValue": "rejected"})
    assert response.status_code == 200, response.text
    done = await wait_status(http, base, run_id, {"completed", "failed"})
    assert done["result"] == {"paid": False}, done
    assert done["stepExecutionHistory"][0]["output"] == {"actionId": "approval-action-1",
                                                         "actionValue": "rejected"}


async def test_timeout_takes_the_timeout_branch(shared_worker: WorkerProcess,
                                                http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, TIMEOUT)
    run_id = await start(http, base, wf, {})
    paused = await wait_status(http, base, run_id, {"paused", "completed"})
    assert paused["status"] == "paused" and paused["pauseSignal"]["expiresAtMs"]
    done = await wait_status(http, base, run_id, {"completed", "failed"})
    assert done["status"] == "completed" and done["result"] == {"late": True}, done
    assert [s["stepId"] for s in done["stepExecutionHistory"]] == ["ask", "late"]
    assert done["stepExecutionHistory"][0]["output"] == {"timedOut": True}
    assert done["duration"] >= 1000


async def test_a_paused_run_survives_a_worker_restart(
        spawn_worker: Callable[..., WorkerProcess], http: httpx.AsyncClient) -> None:
    worker = spawn_worker()
    wf = await create_workflow(http, worker.url, ONBOARDING)
    run_id = await start(http, worker.url, wf, {"name": "Bo"})
    await wait_status(http, worker.url, run_id, {"paused"})
    worker.stop()
    worker.start()
    body = await wait_status(http, worker.url, run_id, {"paused"}, timeout=60)
    assert body["pauseSignal"]["title"] == "Details for Bo"
    good = {"type": "collect_inputs", "data": {"email": "bo@acme.io", "seats": 1}}
    deadline = time.monotonic() + 30
    while True:  # 503 until the restarted worker has recovered its runs table
        response = await http.post(f"{worker.url}/api/workflow/resume/{run_id}", json=good)
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert response.status_code == 200, response.text
    done = await wait_status(http, worker.url, run_id, {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["result"] == {"who": "Bo", "email": "bo@acme.io", "seats": 1, "plan": None}
