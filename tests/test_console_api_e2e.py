"""The API the web console polls and draws, against a real broker and worker.

Live run list (ETag / 304), the runs-per-hour series of a workflow's health.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from dev.workers import WorkerProcess
from tests.helpers import create_workflow

STEPS = [{"id": "shape", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}}]


async def _listed(http: httpx.AsyncClient, url: str, headers: dict[str, str], count: int
                  ) -> httpx.Response:
    """The list once the history store shows `count` runs (projection is asynchronous)."""
    deadline = time.monotonic() + 30
    while True:
        response = await http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        if response.json()["total"] >= count or time.monotonic() > deadline:
            return response
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
    deadline = time.monotonic() + 30
    while True:
        health = (await http.get(f"{base}/api/workflows/{wf}/health", headers=tenant)).json()
        if sum(b["completed"] for b in health["hourly"]) == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    hourly = health["hourly"]
    assert len(hourly) == 24
    assert [b["hourMs"] for b in hourly] == sorted(b["hourMs"] for b in hourly)
    assert hourly[-1]["hourMs"] <= time.time() * 1000 < hourly[-1]["hourMs"] + 3_600_000
    assert all(b["hour"].endswith(":00:00.000Z") for b in hourly)
    totals = {k: sum(b[k] for b in hourly) for k in ("started", "completed", "failed",
                                                      "cancelled")}
    assert totals == {"started": 2, "completed": 2, "failed": 0, "cancelled": 0}
    assert sum(b["started"] for b in hourly[-2:]) == 2  # in this hour (or the last, at :00)


async def run_and_wait_as(http: httpx.AsyncClient, base: str, wf: str, payload: dict[str, Any],
                          tenant: dict[str, str]) -> dict[str, Any]:
    response = await http.post(f"{base}/api/workflows/{wf}/run", params={"wait": "true"},
                               json={"input": payload}, headers=tenant)
    assert response.status_code == 200 and response.json()["status"] == "completed", \
        response.text
    return response.json()


