"""Failures end to end: a 429 with Retry-After is waited out (status retrying meanwhile),
a permanent 4xx fails at once, a missing provider is a clear permanent step error, and
step logs carry the class. Real broker, real worker, a real aiohttp peer on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from aiohttp import web

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, run_and_wait, wait_status


class Flaky:
    """Answers 429 Retry-After: 2 once per path, then 200; /gone is always 404."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.calls.setdefault(path, []).append(time.monotonic())
        if path == "/gone":
            return web.json_response({"error": "no such hook"}, status=404)
        if len(self.calls[path]) == 1:
            return web.json_response({"error": "slow down"}, status=429,
                                     headers={"Retry-After": "2"})
        return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    peer = Flaky()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield peer, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_429_retry_after_is_honoured(shared_worker: WorkerProcess,
                                           http: httpx.AsyncClient,
                                           flaky: tuple[Flaky, str]) -> None:
    peer, base_url = flaky
    base = shared_worker.url
    wf = await create_workflow(http, base, {
        "name": "rate limited", "retry": {"max_retries": 3, "backoff_seconds": 0.1},
        "steps": [{"id": "hook", "type": "webhook",
                   "config": {"url": f"{base_url}/limited", "method": "POST"}}]})
    started = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    assert started.status_code in (200, 202), started.text
    run_id = started.json()["runId"]
    retrying = await wait_status(http, base, run_id, {"retrying"}, timeout=10)
    assert retrying["stepExecutionHistory"][0]["errorClass"] == "transient"
    done = await wait_status(http, base, run_id, {"completed", "failed"}, timeout=30)
    assert done["status"] == "completed", done
    first, second = peer.calls["/limited"]
    assert second - first >= 2.0  # not the 0.1 s backoff
    attempts = done["stepExecutionHistory"]
    assert [(s["attempt"], s["status"], s["errorClass"]) for s in attempts] == [
        (1, "failed", "transient"), (2, "completed", None)]
    assert "Retry-After 2s" in attempts[0]["error"]
    logs = (await http.get(f"{base}/api/workflows/runs/{run_id}/logs")).json()["logs"]
    assert logs[0]["errorClass"] == "transient" and logs[0]["httpStatus"] == 429


async def test_permanent_failures_do_not_retry(shared_worker: WorkerProcess,
                                               http: httpx.AsyncClient,
                                               flaky: tuple[Flaky, str]) -> None:
    peer, base_url = flaky
    base = shared_worker.url
    retry = {"max_retries": 5, "backoff_seconds": 0.1}
    gone = await create_workflow(http, base, {"name": "gone", "retry": retry, "steps": [
        {"id": "hook", "type": "webhook", "config": {"url": f"{base_url}/gone"}}]})
    run = await run_and_wait(http, base, gone, {})
    assert run["status"] == "failed" and len(peer.calls["/gone"]) == 1
    (step,) = run["stepExecutionHistory"]
    assert step["errorClass"] == "permanent" and "HTTP 404" in step["error"]

    refused = await create_workflow(http, base, {"name": "metadata", "retry": retry, "steps": [
        {"id": "hook", "type": "webhook",
         "config": {"url": "http://169.254.169.254/latest/meta-data/"}}]})
    run = await run_and_wait(http, base, refused, {})
    assert run["status"] == "failed" and len(run["stepExecutionHistory"]) == 1
    assert run["stepExecutionHistory"][0]["errorClass"] == "permanent"

    company = await create_workflow(http, base, {"name": "no provider", "retry": retry,
                                                 "steps": [{"id": "c", "type": "company_lookup",
                                                            "config": {"value": "acme.io"}}]})
    run = await run_and_wait(http, base, company, {})
    assert run["status"] == "failed" and len(run["stepExecutionHistory"]) == 1
    (step,) = run["stepExecutionHistory"]
    assert step["errorClass"] == "permanent"
    assert step["error"] == ("company_lookup has no provider configured: set "
                             "HOPFLOW_COMPANY_PROVIDER_URL")


async def test_max_retry_count_over_five_is_refused(shared_worker: WorkerProcess,
                                                    http: httpx.AsyncClient) -> None:
    response = await http.post(f"{shared_worker.url}/api/workflows", json={
        "name": "too many", "retry": {"max_retries": 6},
        "steps": [{"id": "t", "type": "transform", "config": {"fields": {}}}]})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "retry.max_retries"
