"""company_lookup and darkweb_lookup against a provider on 127.0.0.1, and usage per tenant.

A real worker on the real broker, configured with the provider as an operator
would (HOPFLOW_*_PROVIDER_URL / _TOKEN); the provider is an aiohttp server
started here. Usage: two valid lookups and one invalid cost 2 credits, seen
only by the tenant that ran them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess, free_port
from steps.base import ExecContext, StepFailed
from steps.errors import PERMANENT, TRANSIENT
from steps.lookups import company, darkweb
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow

TOKEN = "prov-token-8c1d0f"  # must never show in a step log
PORT = free_port()
COMPANIES = {"acme.io": {"name": "Acme", "domain": "acme.io", "industry": "Software",
                         "employees": 120, "country": "US", "secret_field": "dropped"}}
BREACHES = {"jane@example.com": {"breached": True, "breach_count": 1, "breaches": [
    {"name": "ExampleLeak", "date": "2021-05-01", "data_classes": ["email"]}]}}


class Provider:
    """Company and breach data at /company/{q} and /darkweb/{q}; `status` forces an answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.status: int | None = None

    async def handle(self, request: web.Request) -> web.Response:
        kind, query = request.match_info["kind"], request.match_info["query"]
        self.seen.append((query, request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.status is not None:
            return web.json_response({"error": "forced"}, status=self.status)
        data = (COMPANIES if kind == "company" else BREACHES).get(query)
        return web.json_response(data or {"error": "unknown"}, status=200 if data else 404)


@pytest_asyncio.fixture(scope="module")
async def provider() -> AsyncIterator[Provider]:
    peer = Provider()
    app = web.Application()
    app.router.add_get("/{kind}/{query}", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    yield peer
    await runner.cleanup()


def provider_env() -> dict[str, str]:
    base = f"http://127.0.0.1:{PORT}"
    return {"HOPFLOW_COMPANY_PROVIDER_URL": f"{base}/company/{{query}}",
            "HOPFLOW_COMPANY_PROVIDER_TOKEN": TOKEN,
            "HOPFLOW_DARKWEB_PROVIDER_URL": f"{base}/darkweb/{{query}}",
            "HOPFLOW_DARKWEB_PROVIDER_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("provider"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("provider"), env=provider_env())
    proc.start()
    yield proc
    proc.stop()


def ctx() -> ExecContext:
    c = ExecContext("r", "t", "s", 1)
    c.extras["provider"] = {"url": f"http://127.0.0.1:{PORT}/company/{{query}}",
                            "token": TOKEN}
    return c


async def test_provider_answers_are_classified(provider: Provider) -> None:
    found = await company.execute({"value": "ceo@acme.io"}, ctx())
    assert found.credits == 1 and found.output["name"] == "Acme"
    assert "secret_field" not in found.output and provider.seen[-1] == ("acme.io",
                                                                        f"Bearer {TOKEN}")
    unknown = await company.execute({"value": "Nobody Ltd"}, ctx())
    assert (unknown.output["found"], unknown.output["valid"], unknown.credits) == (
        False, True, 1)
    assert provider.seen[-1][0] == "Nobody Ltd"  # decoded from Nobody%20Ltd
    for status, expected, retry_after in ((429, TRANSIENT, None), (503, TRANSIENT, None),
                                          (403, PERMANENT, None)):
        provider.status = status
        try:
            with pytest.raises(StepFailed) as caught:
                await company.execute({"value": "acme.io"}, ctx())
        finally:
            provider.status = None
        assert caught.value.error_class == expected, status
        assert caught.value.retry_after == retry_after
        assert TOKEN not in str(caught.value.request)
    with pytest.raises(StepFailed) as caught:
        await darkweb.execute({"value": "jane@example.com"}, ExecContext("r", "t", "s", 1))
    assert caught.value.error_class == PERMANENT
    assert str(caught.value) == ("darkweb_lookup has no provider configured: set "
                                 "HOPFLOW_DARKWEB_PROVIDER_URL")


LOOKUPS = {"name": "enrich", "steps": [
    {"id": "company", "type": "company_lookup", "config": {"field": "input.email"}},
    {"id": "breach", "type": "darkweb_lookup", "config": {"value": "{{input.email}}"}},
    {"id": "bad", "type": "darkweb_lookup", "config": {"value": "{{input.junk}}"}},
]}


async def usage(http: httpx.AsyncClient, base: str, tenant: str) -> dict[str, Any]:
    response = await http.get(f"{base}/api/usage", headers={"x-tenant-id": tenant})
    assert response.status_code == 200, response.text
    return response.json()


async def test_lookups_end_to_end_and_usage_per_tenant(
        provider: Provider, worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, LOOKUPS, tenant="billed")
    response = await http.post(f"{base}/api/workflows/{wf}/run", params={"wait": "true"},
                               json={"input": {"email": "jane@example.com",
                                               "junk": "no at sign, no domain"}},
                               headers={"x-tenant-id": "billed"})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed", run
    company_out, breach, bad = (s["output"] for s in run["stepExecutionHistory"])
    assert (company_out["found"], company_out["credits"]) == (False, 1)  # example.com unknown
    assert breach["breached"] is True and breach["breach_count"] == 1 and breach["credits"] == 1
    assert breach["breaches"][0]["name"] == "ExampleLeak"
    assert (bad["valid"], bad["credits"]) == (False, 0) and bad["reason"]
    assert ("example.com", f"Bearer {TOKEN}") in provider.seen
    logs = await http.get(f"{base}/api/workflows/runs/{run['runId']}/logs",
                          headers={"x-tenant-id": "billed"})
    assert TOKEN not in logs.text and "example.com" in logs.text

    body: dict[str, Any] = {}
    for _ in range(100):  # the history projector catches up within a moment
        body = await usage(http, base, "billed")
        if body["totals"]["calls"] >= 3:  # all three steps projected
            break
        await asyncio.sleep(0.1)
    assert body["totals"] == {"credits": 2, "calls": 3}, body
    assert {e["stepType"]: (e["credits"], e["calls"]) for e in body["byType"]} == {
        "company_lookup": (1, 1), "darkweb_lookup": (1, 2)}
    other = await usage(http, base, "someone-else")
    assert other["totals"] == {"credits": 0, "calls": 0} and other["days"] == []
    bad_date = await http.get(f"{base}/api/usage", params={"from": "2026-02-30"},
                              headers={"x-tenant-id": "billed"})
    assert bad_date.status_code == 400 and bad_date.json()["error"]["field"] == "from"


def test_worker_log_has_no_token(worker: WorkerProcess) -> None:
    assert TOKEN not in Path(worker.log_path).read_text(errors="replace")
