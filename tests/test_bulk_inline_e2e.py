"""Inline bulk lookups against a real worker on the real broker (issue 10 item 1).

SSE is read with httpx streaming, event by event; the provider lookups go to an
aiohttp peer on 127.0.0.1 configured as an operator would
(HOPFLOW_*_PROVIDER_URL); credits are read back from GET /api/usage, where the
history projector put the call's one `usage.recorded` event. The disconnect
test reads two events and hangs up while the rest wait on a slow provider: the
worker must stop asking the provider and bill only the two items that finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess, free_port
from tests.conftest import fresh_app_id

TOKEN = "bulk-prov-token-5e2a"
PORT = free_port()
SLOW_SECONDS = 3.0  # a worker that did not stop asks 8 more each time it passes
SSE = {"Accept": "text/event-stream"}
EMAILS = ["jane@example.com", "not an email", "bob@startup.io", "", "ops@example.org"]


class Provider:
    """/company/{q} and /google/{q}; a query starting with `slow` waits SLOW_SECONDS."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        kind, query = request.match_info["kind"], request.match_info["query"]
        self.seen.append(query)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if query.startswith("slow"):
            await asyncio.sleep(SLOW_SECONDS)
        if kind == "google":
            return web.json_response({"total_results": 2, "results": [
                {"title": f"About {query}", "url": "https://example.com/a", "snippet": "..."}]})
        if query == "acme.io":
            return web.json_response({"name": "Acme", "domain": "acme.io", "employees": 120})
        if query.startswith(("fast", "slow")):
            return web.json_response({"name": query})
        return web.json_response({"error": "unknown"}, status=404)


@pytest_asyncio.fixture(scope="module")
async def provider() -> AsyncIterator[Provider]:
    peer = Provider()
    app = web.Application()
    app.router.add_get("/{kind}/{query}", peer.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    yield peer
    await runner.cleanup()


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    base = f"http://127.0.0.1:{PORT}"
    env = {"HOPFLOW_COMPANY_PROVIDER_URL": f"{base}/company/{{query}}",
           "HOPFLOW_COMPANY_PROVIDER_TOKEN": TOKEN,
           "HOPFLOW_GOOGLE_PROVIDER_URL": f"{base}/google/{{query}}",
           "HOPFLOW_GOOGLE_PROVIDER_TOKEN": TOKEN}
    proc = WorkerProcess(app_id=fresh_app_id("bulk-inline"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("bulk-inline"), env=env)
    proc.start()
    yield proc
    proc.stop()


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, data) pairs as they arrive; comment lines (keep-alive) are skipped."""
    name, data = None, None
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = orjson.loads(line[6:])
        elif line == "" and name is not None:
            yield name, data
            name, data = None, None


async def usage_of(http: httpx.AsyncClient, base: str, tenant: str, step_type: str,
                   calls: int) -> dict[str, Any]:
    """The tenant's usage of `step_type` once `calls` calls are projected (or what is there)."""
    entry: dict[str, Any] = {}
    for _ in range(150):
        response = await http.get(f"{base}/api/usage", headers={"x-tenant-id": tenant})
        assert response.status_code == 200, response.text
        entry = next((e for e in response.json()["byType"] if e["stepType"] == step_type), {})
        if entry.get("calls", 0) >= calls:
            break
        await asyncio.sleep(0.1)
    return entry


async def test_bulk_lookup_streams_one_event_per_email_then_a_summary(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    received: list[tuple[str, Any]] = []
    async with http.stream("POST", f"{base}/api/bulk-lookup", json={"emails": EMAILS},
                           headers={**SSE, "x-tenant-id": "sse"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        async for item in events(response):
            received.append(item)
    assert [name for name, _ in received] == ["result"] * 5 + ["summary"]
    results = [data for name, data in received if name == "result"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3, 4]
    by_index = {r["index"]: r for r in results}
    assert [by_index[i]["input"] for i in range(5)] == EMAILS
    assert [by_index[i]["ok"] for i in range(5)] == [True, False, True, False, True]
    assert [by_index[i]["credits"] for i in range(5)] == [1, 0, 1, 0, 1]
    assert by_index[0]["output"]["normalized"] == "jane@example.com"
    assert by_index[0]["error"] is None
    assert by_index[1]["error"] and by_index[1]["output"]["valid"] is False
    assert received[-1][1] == {"total": 5, "succeeded": 3, "failed": 2, "credits": 3,
                               "cancelled": False}


async def test_bulk_lookup_json_mode_and_usage(worker: WorkerProcess,
                                               http: httpx.AsyncClient) -> None:
    base = worker.url
    response = await http.post(f"{base}/api/bulk-lookup", json={"emails": EMAILS},
                               headers={"x-tenant-id": "json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert [r["input"] for r in body["results"]] == EMAILS
    assert [r["credits"] for r in body["results"]] == [1, 0, 1, 0, 1]
    assert body["summary"] == {"total": 5, "succeeded": 3, "failed": 2, "credits": 3,
                               "cancelled": False}
    again = await http.post(f"{base}/api/bulk-lookup", json={"emails": EMAILS[:2]},
                            headers={"x-tenant-id": "json"})
    assert again.status_code == 200
    # one usage record per call, only valid addresses billed, calls = items that ran
    assert await usage_of(http, base, "json", "bulk_email", 7) == {
        "stepType": "bulk_email", "credits": 4, "calls": 7}
    other = await usage_of(http, base, "nobody-else", "bulk_email", 1)
    assert other == {}


async def test_offline_siblings(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    cases = {"/api/bulk-phone-lookup": ({"phones": ["+1 650-253-0000", "12"]}, [True, False]),
             "/api/bulk-domain-search": ({"queries": ["a.b.example.co.uk", "com"]},
                                         [True, False]),
             "/api/bulk-ip-search": ({"queries": ["8.8.8.8", "999.1.1.1"]}, [True, False])}
    for path, (payload, oks) in cases.items():
        response = await http.post(f"{base}{path}", json=payload,
                                   headers={"x-tenant-id": "offline"})
        assert response.status_code == 200, (path, response.text)
        assert [r["ok"] for r in response.json()["results"]] == oks, path
    region = await http.post(f"{base}/api/bulk-phone-lookup",
                             json={"queries": ["650 253 0000"], "default_region": "US"},
                             headers={"x-tenant-id": "offline"})
    assert region.json()["results"][0]["output"]["e164"] == "+16502530000"


async def test_company_and_google_search_through_the_provider(
        provider: Provider, worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    async with http.stream("POST", f"{base}/api/bulk-company-search",
                           json={"queries": ["ceo@acme.io", "Nobody Ltd", "   "]},
                           headers={**SSE, "x-tenant-id": "prov"}) as response:
        assert response.status_code == 200
        received = [item async for item in events(response)]
    results = {d["index"]: d for name, d in received if name == "result"}
    assert results[0]["output"]["name"] == "Acme" and results[0]["credits"] == 1
    assert results[1]["output"]["found"] is False and results[1]["credits"] == 1
    assert results[2]["ok"] is False and results[2]["credits"] == 0
    assert received[-1] == ("summary", {"total": 3, "succeeded": 2, "failed": 1,
                                        "credits": 2, "cancelled": False})
    assert "acme.io" in provider.seen and "Nobody Ltd" in provider.seen
    google = await http.post(f"{base}/api/bulk-google-search",
                             json={"queries": ["hopflow  kafka"]},
                             headers={"x-tenant-id": "prov"})
    assert google.status_code == 200, google.text
    out = google.json()["results"][0]["output"]
    assert out["results"][0]["title"] == "About hopflow kafka" and out["total_results"] == 2
    assert TOKEN not in google.text
    assert (await usage_of(http, base, "prov", "bulk_google", 1))["credits"] == 1
    assert await usage_of(http, base, "prov", "bulk_company", 3) == {
        "stepType": "bulk_company", "credits": 2, "calls": 3}


async def test_caps_and_bad_fields(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    over = await http.post(f"{base}/api/bulk-lookup", json={"emails": ["a@b.co"] * 1001},
                           headers={"x-tenant-id": "bad"})
    assert over.status_code == 413 and over.json()["error"]["field"] == "emails"
    assert "1000" in over.json()["error"]["message"]
    over = await http.post(f"{base}/api/bulk-ip-search", json={"queries": ["1.1.1.1"] * 101},
                           headers={**SSE, "x-tenant-id": "bad"})
    assert over.status_code == 413 and over.json()["error"]["field"] == "queries"
    for payload, field in (({"emails": "a@b.co"}, "emails"), ({"emails": []}, "emails"),
                           ({"queries": ["a@b.co"]}, "emails"),
                           ({"emails": ["a@b.co", 7]}, "emails[1]")):
        bad = await http.post(f"{base}/api/bulk-lookup", json=payload,
                              headers={"x-tenant-id": "bad"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == field, payload
    anonymous = await http.post(f"{base}/api/bulk-lookup", json={"emails": ["a@b.co"]},
                                headers={"x-test-no-auth": "1"})
    assert anonymous.status_code == 401


async def test_a_member_may_call(worker: WorkerProcess, http: httpx.AsyncClient,
                                 key_auth: Any) -> None:
    """The role of GET /api/usage: any key of the tenant."""
    key = await key_auth.key(worker.url, worker.port, "members", role="member")
    response = await http.post(f"{worker.url}/api/bulk-ip-search", json={"queries": ["1.1.1.1"]},
                               headers={"x-api-key": key, "x-tenant-id": "members"})
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["credits"] == 1


async def test_a_client_that_hangs_up_stops_the_work_and_pays_for_what_ran(
        provider: Provider, worker: WorkerProcess, key_auth: Any) -> None:
    base = worker.url
    queries = ["fast-0", "fast-1"] + [f"slow-{i}" for i in range(2, 100)]
    before = len(provider.seen)
    got = []
    async with httpx.AsyncClient(timeout=30.0, auth=key_auth) as client, client.stream(
            "POST", f"{base}/api/bulk-company-search", json={"queries": queries},
            headers={**SSE, "x-tenant-id": "quitter"}) as response:
        assert response.status_code == 200
        async for name, data in events(response):
            got.append((name, data["index"]))
            if len(got) == 2:
                break  # hang up: the other 98 are still waiting on the provider
    assert sorted(got) == [("result", 0), ("result", 1)]
    await asyncio.sleep(SLOW_SECONDS + 1.5)  # a worker that went on would ask 8 more by now
    asked = len(provider.seen) - before
    assert asked <= 10, asked  # 8 at a time: 2 fast ones, then 8 slow ones, then cancelled
    async with httpx.AsyncClient(timeout=30.0, auth=key_auth) as client:
        entry = await usage_of(client, base, "quitter", "bulk_company", 1)
    assert entry == {"stepType": "bulk_company", "credits": 2, "calls": 2}


def test_worker_log_has_no_provider_token(worker: WorkerProcess) -> None:
    assert TOKEN not in Path(worker.log_path).read_text(errors="replace")
