"""The API the web console polls and draws, against a real broker and worker.

Live run list (ETag / 304), the runs-per-hour series of a workflow's health,
and re-runs (POST /api/workflows/runs/{id}/rerun).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench.sink import Sink
from dev.workers import WorkerProcess
from tests.helpers import create_workflow, run_and_wait, wait_status

DEADLINE_S = 90.0  # CI is a slow 2-core box: wait on conditions, generously
TERMINAL = {"completed", "failed", "cancelled", "terminated"}
STEPS = [{"id": "shape", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}}]


async def _listed(http: httpx.AsyncClient, url: str, headers: dict[str, str], count: int
                  ) -> httpx.Response:
    """The list once the history store shows `count` runs, all ended (projection is
    asynchronous: a run listed as running a moment before it is listed as completed
    changes the page, and its ETag, between two requests)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = await http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["total"] >= count and all(r["status"] in TERMINAL for r in body["data"]):
            return response
        assert time.monotonic() < deadline, f"{url}: not {count} ended runs: {body}"
        await asyncio.sleep(0.1)


async def test_run_lists_answer_304_until_a_run_changes(shared_worker: WorkerProcess,
                                                        http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    tenant = {"x-tenant-id": f"etag-{uuid.uuid4().hex[:8]}"}
    wf = await create_workflow(http, base, {"name": "etag", "steps": STEPS}, tenant["x-tenant-id"])
    await run_and_wait_as(http, base, wf, {"n": 1}, tenant)
    for url in (f"{base}/api/workflows/runs", f"{base}/api/workflows/{wf}/runs"):
        first = await _listed(http, url, tenant, 1)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and first.headers["Cache-Control"] == "no-cache"
        again = await http.get(url, headers={**tenant, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        weak = await http.get(url, headers={**tenant, "If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304
        stale = await http.get(url, headers={**tenant, "If-None-Match": '"other"'})
        assert stale.status_code == 200 and stale.headers["ETag"] == etag
        # a filter is another page: another ETag
        filtered = await http.get(url, params={"status": "failed"}, headers=tenant)
        assert filtered.headers["ETag"] != etag
    url = f"{base}/api/workflows/runs"
    etag = (await _listed(http, url, tenant, 1)).headers["ETag"]
    await run_and_wait_as(http, base, wf, {"n": 2}, tenant)
    changed = await _listed(http, url, tenant, 2)
    assert changed.json()["total"] == 2 and changed.headers["ETag"] != etag
    refetched = await http.get(url, headers={**tenant, "If-None-Match": etag})
    assert refetched.status_code == 200 and len(refetched.json()["data"]) == 2


async def test_health_has_runs_per_hour_for_the_last_24_hours(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    tenant = {"x-tenant-id": f"hourly-{uuid.uuid4().hex[:8]}"}
    wf = await create_workflow(http, base, {"name": "hourly", "steps": STEPS},
                               tenant["x-tenant-id"])
    for n in range(2):
        await run_and_wait_as(http, base, wf, {"n": n}, tenant)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        before_ms = time.time() * 1000
        health = (await http.get(f"{base}/api/workflows/{wf}/health", headers=tenant)).json()
        after_ms = time.time() * 1000
        if sum(b["completed"] for b in health["hourly"]) == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    hourly = health["hourly"]
    assert len(hourly) == 24
    assert [b["hourMs"] for b in hourly] == sorted(b["hourMs"] for b in hourly)
    # the server's current hour, read between two clock reads (an hour may turn meanwhile)
    assert hourly[-1]["hourMs"] <= after_ms and before_ms < hourly[-1]["hourMs"] + 3_600_000
    assert all(b["hour"].endswith(":00:00.000Z") for b in hourly)
    totals = {k: sum(b[k] for b in hourly) for k in ("started", "completed", "failed",
                                                      "cancelled")}
    assert totals == {"started": 2, "completed": 2, "failed": 0, "cancelled": 0}
    assert sum(b["started"] for b in hourly[-2:]) == 2  # in this hour (or the last, at :00)


async def run_and_wait_as(http: httpx.AsyncClient, base: str, wf: str, payload: dict[str, Any],
                          tenant: dict[str, str]) -> dict[str, Any]:
    response = await http.post(f"{base}/api/workflows/{wf}/run",
                               params={"wait": "true", "timeout": "50"},  # < the client's 60 s
                               json={"input": payload}, headers=tenant)
    assert response.status_code == 200 and response.json()["status"] == "completed", \
        response.text
    return response.json()




def _rerun_flow(sink: Sink, tag: str, label: str = "v1") -> dict[str, Any]:
    return {"name": f"rerun {label}", "retry": {"max_retries": 0}, "steps": [
        {"id": "first", "type": "webhook",
         "config": {"url": sink.url(f"/first-{tag}"), "method": "POST",
                    "body": {"n": "{{input.n}}"}}},
        {"id": "call", "type": "webhook",
         "config": {"url": sink.url(f"/call-{tag}"), "method": "POST", "body": {}}},
        {"id": "shape", "type": "transform",
         "config": {"fields": {"n": "{{steps.first.body.body.n}}", "label": label}}}]}


async def _rerun(http: httpx.AsyncClient, base: str, run_id: str, **params: str
                 ) -> httpx.Response:
    headers = {}
    if "key" in params:
        headers["Idempotency-Key"] = params.pop("key")
    return await http.post(f"{base}/api/workflows/runs/{run_id}/rerun", params=params,
                           headers=headers)


async def test_rerun_from_a_failed_step_reuses_the_earlier_outputs(
        shared_worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    tag = uuid.uuid4().hex[:8]
    wf = await create_workflow(http, base, _rerun_flow(sink, tag))
    sink.fail_next(f"/call-{tag}", times=1, status=400)
    failed = await run_and_wait(http, base, wf, {"n": 7}, timeout=50)
    assert failed["status"] == "failed", failed
    assert [s["stepId"] for s in failed["stepExecutionHistory"]] == ["first", "call"]
    assert sink.counts[f"/first-{tag}"] == 1

    # refused, naming the field
    for params, field in (({"from_step": "nope"}, "from_step"),
                          ({"from_step": "shape"}, "from_step"),  # never reached
                          ({"version": "9"}, "version"), ({"version": "x"}, "version")):
        answer = await _rerun(http, base, failed["runId"], **params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"]["field"] == field
    other = await http.post(f"{base}/api/workflows/runs/{failed['runId']}/rerun",
                            headers={"x-tenant-id": "intruder"})
    assert other.status_code == 404
    assert (await _rerun(http, base, "run_nope")).status_code == 404

    # from the failed step: `first` is reused, not called again
    answer = await _rerun(http, base, failed["runId"], from_step="call", key="k1")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["rerunOf"] == failed["runId"] and body["workflowVersion"] == 1
    assert body["fromStep"] == "call" and body["runId"] != failed["runId"]
    again = await _rerun(http, base, failed["runId"], from_step="call", key="k1")
    assert again.status_code == 202 and again.json()["runId"] == body["runId"]
    run = await wait_status(http, base, body["runId"], {"completed", "failed"}, timeout=DEADLINE_S)
    assert run["status"] == "completed", run
    assert run["trigger"] == "rerun" and run["rerunOf"] == failed["runId"]
    assert run["input"] == {"n": 7} and run["workflowVersion"] == 1
    steps = run["stepExecutionHistory"]
    assert [(s["stepId"], s["status"]) for s in steps] == [
        ("first", "reused"), ("call", "completed"), ("shape", "completed")]
    assert steps[0]["output"] == failed["stepExecutionHistory"][0]["output"]
    assert run["result"] == {"n": 7, "label": "v1"}
    assert sink.counts[f"/first-{tag}"] == 1 and sink.counts[f"/call-{tag}"] == 2
    # the history store has the link too (a list reads only the store)
    stored = await _listed(http, f"{base}/api/workflows/{wf}/runs?trigger=rerun", {}, 1)
    assert stored.json()["data"][0]["rerunOf"] == failed["runId"]
    late = await _rerun(http, base, failed["runId"], from_step="call", key="k1")
    assert late.status_code == 202 and late.json()["runId"] == body["runId"]

    # a whole re-run on the latest version calls every step again
    updated = await http.put(f"{base}/api/workflows/{wf}", json=_rerun_flow(sink, tag, "v2"))
    assert updated.status_code == 200 and updated.json()["version"] == 2
    answer = await _rerun(http, base, failed["runId"], version="latest")
    assert answer.status_code == 202 and answer.json()["workflowVersion"] == 2
    run = await wait_status(http, base, answer.json()["runId"], {"completed", "failed"},
                            timeout=DEADLINE_S)
    assert run["status"] == "completed" and run["result"] == {"n": 7, "label": "v2"}
    assert [s["status"] for s in run["stepExecutionHistory"]] == ["completed"] * 3
    assert sink.counts[f"/first-{tag}"] == 2


async def test_step_executions_carry_what_a_timeline_draws(
        shared_worker: WorkerProcess, sink: Sink, http: httpx.AsyncClient) -> None:
    """Epoch-ms bounds per attempt, waits marked as delay / approval, a retry's due time."""
    base = shared_worker.url
    tag = uuid.uuid4().hex[:8]
    wf = await create_workflow(http, base, {"name": "timeline", "steps": [
        {"id": "pause", "type": "delay", "config": {"duration": "200ms"}},
        {"id": "ask", "type": "collect_inputs",
         "config": {"fields": {"note": {"type": "string"}}}}]})
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    paused = await wait_status(http, base, started.json()["runId"], {"paused"}, timeout=DEADLINE_S)
    delay, ask = paused["stepExecutionHistory"]
    assert (delay["waitKind"], delay["status"]) == ("delay", "completed")
    assert delay["endedMs"] - delay["startedMs"] >= 200
    assert isinstance(delay["startedMs"], int) and delay["startTime"].endswith("Z")
    assert (ask["waitKind"], ask["status"], ask["endedMs"]) == ("approval", "waiting", None)
    assert ask["request"] == paused["pauseSignal"] and paused["retryAtMs"] is None

    retrying = await create_workflow(http, base, {
        "name": "retrying", "retry": {"max_retries": 2, "backoff_seconds": 60},
        "steps": [{"id": "call", "type": "webhook", "config": {
            "url": sink.url(f"/flaky-{tag}"), "method": "POST", "body": {}}}]})
    sink.fail_next(f"/flaky-{tag}", times=5, status=503)
    started = await http.post(f"{base}/api/workflows/{retrying}/run", json={"input": {}})
    run_id = started.json()["runId"]
    run = await wait_status(http, base, run_id, {"retrying"}, timeout=DEADLINE_S)
    first = run["stepExecutionHistory"][0]
    assert (first["waitKind"], first["status"], first["attempt"]) == (None, "failed", 1)
    assert run["retryAtMs"] >= first["endedMs"] + 59_000
    await http.post(f"{base}/api/workflows/runs/{run_id}/terminate")
