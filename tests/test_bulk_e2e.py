"""Async bulk jobs end to end: real broker, real workers, peers on 127.0.0.1.

Covers create/status/list/download (values and neutralised formula cells), the
400/413 answers, cancel (rows done are kept), SSE progress, bulk_job.completed
delivered to a webhook endpoint, the plan's monthly credit cap (429), and the
crash test: two workers, one killed with SIGKILL mid-job and restarted; every
row is in the results exactly once and the credits match.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from dev.workers import WorkerProcess, free_port
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.kafka_fixture import BrokerSettings
from tests.tenants import make_key
from tests.webhook_peer import Receiver

JOBS = "/api/bulk-jobs"
PROVIDER_PORT = free_port()
SLOW_SECONDS = 0.05


class SlowProvider:
    """A company provider that takes SLOW_SECONDS per answer (cancel needs a job in flight)."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await asyncio.sleep(SLOW_SECONDS)
        query = request.match_info["query"]
        return web.json_response({"name": query.upper(), "domain": query})


@pytest_asyncio.fixture(scope="module")
async def provider() -> AsyncIterator[SlowProvider]:
    peer = SlowProvider()
    app = web.Application()
    app.router.add_get("/company/{query}", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PROVIDER_PORT).start()
    yield peer
    await runner.cleanup()


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("bulk"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("bulk"), env={
                             "HOPFLOW_SECRETS_KEYS": generate_key(),
                             "HOPFLOW_COMPANY_PROVIDER_URL":
                                 f"http://127.0.0.1:{PROVIDER_PORT}/company/{{query}}"})
    proc.start()
    yield proc
    proc.stop()


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def phones(n: int, invalid_every: int = 10) -> list[list[str]]:
    """A header and n rows: valid US numbers, every invalid_every-th one not a number."""
    rows = [["name", "phone"]]
    for i in range(n):
        value = "not a phone" if i % invalid_every == 0 else f"+1 650 253 {i % 10000:04d}"
        rows.append([f"person {i}", value])
    return rows


async def post_job(http: httpx.AsyncClient, base: str, data: bytes, type_: str | None,
                   column: str | None = None, tenant: str = "bulk", **headers: str
                   ) -> httpx.Response:
    fields = {} if type_ is None else {"type": type_}
    if column is not None:
        fields["column"] = column
    return await http.post(base + JOBS, files={"file": ("in.csv", data, "text/csv")},
                           data=fields, headers={"x-tenant-id": tenant, **headers})


async def job(http: httpx.AsyncClient, base: str, job_id: str, tenant: str = "bulk"
              ) -> dict[str, Any]:
    r = await http.get(base + JOBS, params={"id": job_id}, headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_job(http: httpx.AsyncClient, base: str, job_id: str,
                   statuses: frozenset[str] = frozenset({"completed", "failed", "cancelled"}),
                   timeout: float = 120.0, tenant: str = "bulk") -> dict[str, Any]:
    """Poll until the job reaches one of `statuses`.

    A worker other than the one that took the job answers 404 until its own history store
    has projected the job (each worker keeps its own store here), so 404 means "not yet".
    """
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = await http.get(base + JOBS, params={"id": job_id}, headers={"x-tenant-id": tenant})
        if r.status_code != 404:
            assert r.status_code == 200, r.text
            found = r.json()
            if found["status"] in statuses:
                return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} not in {statuses} after {timeout}s: {found or 404}")


async def download(http: httpx.AsyncClient, base: str, job_id: str, tenant: str = "bulk"
                   ) -> list[dict[str, str]]:
    r = await http.get(base + JOBS + "/download", params={"id": job_id},
                       headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text)))


async def usage_credits(http: httpx.AsyncClient, base: str, tenant: str, step_type: str
                        ) -> int:
    r = await http.get(base + "/api/usage", headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    return sum(e["credits"] for e in r.json()["byType"] if e["stepType"] == step_type)


# ------------------------------------------------------------------ the happy path

async def test_create_status_list_download(worker: WorkerProcess, http: httpx.AsyncClient
                                           ) -> None:
    base = worker.url
    rows = [["name", "phone", "note"],
            ["Ann", "+1 650 253 0000", "=HYPERLINK(\"http://evil\")"],
            ["Bob", "12", "+cmd"],
            ["Cy", "", "@sum"],
            ["Di", "+44 20 7946 0018", "plain"]]
    r = await post_job(http, base, csv_bytes(rows), "phone")
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "queued" and created["total_rows"] == 4
    assert created["processed"] == 0 and created["id"].startswith("job_")
    assert created["created_at"].endswith("Z")
    done = await wait_job(http, base, created["id"])
    assert done["status"] == "completed", done
    assert (done["processed"], done["failed"], done["credits_used"]) == (2, 2, 2)
    assert done["completed_at"] is not None
    listed = (await http.get(base + JOBS, headers={"x-tenant-id": "bulk"})).json()
    assert created["id"] in [j["id"] for j in listed["data"]]
    assert listed["total"] >= 1 and listed["page"] == 1
    other = await http.get(base + JOBS, params={"id": created["id"]},
                           headers={"x-tenant-id": "bulk-other"})
    assert other.status_code == 404
    out = await download(http, base, created["id"])
    assert [row["name"] for row in out] == ["Ann", "Bob", "Cy", "Di"]
    assert out[0]["note"] == "'=HYPERLINK(\"http://evil\")"  # neutralised
    assert out[1]["note"] == "'+cmd" and out[2]["note"] == "'@sum"
    assert out[0]["e164"] == "+16502530000"  # a phone number is not a formula
    assert out[0]["valid"] == "true" and out[1]["valid"] == "false"
    assert out[3]["region"] == "GB"
    assert out[1]["error"] and out[2]["error"] and not out[0]["error"]


async def test_bad_requests_name_the_field(worker: WorkerProcess, http: httpx.AsyncClient
                                           ) -> None:
    base = worker.url
    good = csv_bytes(phones(3))
    cases = [(await post_job(http, base, good, None), 400, "type"),
             (await post_job(http, base, good, "fax"), 400, "type"),
             (await post_job(http, base, b"", "phone"), 400, "file"),
             (await post_job(http, base, good, "phone", column="nope"), 400, "column"),
             (await post_job(http, base, csv_bytes(phones(10_001)), "phone"), 413, "file")]
    for r, status, field in cases:
        assert r.status_code == status, r.text
        assert r.json()["error"]["field"] == field, r.text
    r = await http.post(base + JOBS, json={"type": "phone"}, headers={"x-tenant-id": "bulk"})
    assert r.status_code == 415
    r = await http.get(base + JOBS, params={"id": "job_nope"}, headers={"x-tenant-id": "bulk"})
    assert r.status_code == 404


async def test_progress_events_then_done(worker: WorkerProcess, http: httpx.AsyncClient
                                         ) -> None:
    base = worker.url
    r = await post_job(http, base, csv_bytes(phones(3000)), "phone")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    events: list[tuple[str, dict[str, Any]]] = []
    async with http.stream("GET", base + JOBS + "/events", params={"id": job_id},
                           headers={"x-tenant-id": "bulk"}, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, orjson.loads(line[6:])))
    assert events[-1][0] == "done" and events[-1][1]["status"] == "completed"
    progress = [body for name, body in events if name == "progress"]
    assert progress and progress[-1]["processed"] + progress[-1]["failed"] == 3000
    assert all(p["total"] == 3000 for p in progress)
    counts = [p["processed"] + p["failed"] for p in progress]
    assert counts == sorted(counts)


async def test_cancel_keeps_the_rows_done(worker: WorkerProcess, provider: SlowProvider,
                                          http: httpx.AsyncClient) -> None:
    base = worker.url
    rows = [["company"]] + [[f"co{i}.example"] for i in range(2000)]
    r = await post_job(http, base, csv_bytes(rows), "company")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    await wait_job(http, base, job_id, frozenset({"processing"}))
    deadline = time.monotonic() + 60
    while (await job(http, base, job_id))["processed"] == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    r = await http.delete(base + JOBS, params={"id": job_id}, headers={"x-tenant-id": "bulk"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    await asyncio.sleep(3.0)  # batches in flight at the cancel still land
    final = await job(http, base, job_id)
    assert final["status"] == "cancelled" and final["completed_at"]
    done = final["processed"] + final["failed"]
    assert 0 < done < 2000
    out = await download(http, base, job_id)
    assert len(out) == 2000
    with_result = [row for row in out if row["found"] or row["error"]]
    assert len(with_result) == done
    assert provider.calls < 2000
    again = await http.delete(base + JOBS, params={"id": job_id}, headers={"x-tenant-id": "bulk"})
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


async def test_completion_is_delivered_to_a_webhook_endpoint(
        worker: WorkerProcess, http: httpx.AsyncClient, receiver: Receiver) -> None:
    base = worker.url
    r = await http.post(base + "/api/webhooks", headers={"x-tenant-id": "bulk-hooks"},
                        json={"url": receiver.url("/hook"),
                              "eventTypes": ["bulk_job.completed"]})
    assert r.status_code == 201, r.text
    await asyncio.sleep(1.0)  # the endpoint reaches every worker's registry
    r = await post_job(http, base, csv_bytes(phones(50)), "phone", tenant="bulk-hooks")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    await wait_job(http, base, job_id, tenant="bulk-hooks")
    deadline = time.monotonic() + 30
    while not receiver.received("/hook") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    got = [orjson.loads(body) for _, body in receiver.received("/hook")]
    assert len(got) == 1, got
    event = got[0]
    assert event["type"] == "bulk_job.completed" and event["id"] == f"bulk:{job_id}:completed"
    assert event["data"]["jobId"] == job_id and event["data"]["processed"] == 45
    assert event["data"]["creditsUsed"] == 45 and event["data"]["failed"] == 5


async def test_the_plans_monthly_credit_cap(worker: WorkerProcess, kafka_broker: BrokerSettings,
                                            http: httpx.AsyncClient) -> None:
    base = worker.url
    async with httpx.AsyncClient() as plain:
        app_id = (await plain.get(f"{base}/healthz")).json()["app"]
    key = await make_key(kafka_broker.bootstrap, app_id, base, "bulk-free", plan="free")
    headers = {"x-api-key": key}
    over = await post_job(http, base, csv_bytes(phones(501)), "phone", tenant="bulk-free",
                          **headers)
    assert over.status_code == 429, over.text
    assert "monthly_credits" in over.json()["error"]["message"]
    assert "500" in over.json()["error"]["message"]
    ok = await post_job(http, base, csv_bytes(phones(20)), "phone", tenant="bulk-free",
                        **headers)
    assert ok.status_code == 201, ok.text


# ------------------------------------------------------------------ crash safety

async def test_kill_9_mid_job_every_row_once(spawn_worker: Callable[..., WorkerProcess],
                                             http: httpx.AsyncClient) -> None:
    first = spawn_worker()
    second = spawn_worker()
    tenant = "bulk-crash"
    before = await usage_credits(http, first.url, tenant, "bulk_phone")
    r = await post_job(http, first.url, csv_bytes(phones(2000, invalid_every=7)), "phone",
                       tenant=tenant)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    valid = sum(1 for i in range(2000) if i % 7 != 0)
    at_kill = await wait_job(http, first.url, job_id, frozenset({"processing", "completed"}),
                             tenant=tenant)
    second.kill()
    assert at_kill["status"] == "processing" and at_kill["processed"] < 2000, at_kill
    second.start()
    done = await wait_job(http, first.url, job_id, timeout=180, tenant=tenant)
    assert done["status"] == "completed", done
    assert done["processed"] + done["failed"] == 2000
    assert done["processed"] == valid and done["credits_used"] == valid
    for base in (first.url, second.url):  # each worker's store projected it exactly once
        if base == second.url:
            await wait_job(http, base, job_id, frozenset({"completed"}), tenant=tenant)
        out = await download(http, base, job_id, tenant)
        assert [row["name"] for row in out] == [f"person {i}" for i in range(2000)]
        assert sum(1 for row in out if row["e164"]) == valid
    deadline = time.monotonic() + 30
    while await usage_credits(http, first.url, tenant, "bulk_phone") - before != valid:
        assert time.monotonic() < deadline, "usage never matched the job's credits"
        await asyncio.sleep(0.3)


async def test_a_job_whose_file_is_gone_fails_and_fires_bulk_job_failed(
        worker: WorkerProcess, kafka_broker: BrokerSettings, http: httpx.AsyncClient,
        receiver: Receiver) -> None:
    """The `failed` status and `bulk_job.failed`: a `created` record naming a file that is gone.

    (The API checks the file, so the record is produced here, as the API would have
    before the file went away.)
    """
    from aiokafka import AIOKafkaProducer

    from streams.bulk.progress import control_record
    from topics.catalog import Catalog

    base = worker.url
    async with httpx.AsyncClient() as plain:
        app_id = (await plain.get(f"{base}/healthz")).json()["app"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        r = await http.post(base + "/api/webhooks", headers={"x-tenant-id": "bulk-fail"},
                            json={"url": receiver.url("/hook"),
                                  "eventTypes": ["bulk_job.failed"]})
        assert r.status_code == 201, r.text
        await asyncio.sleep(1.0)  # the endpoint reaches every worker's registry
        job_id = "job_filegone"
        await producer.send_and_wait(Catalog(app_id).bulk_control.name, key=job_id.encode(),
                                     value=control_record("created", job_id, "bulk-fail",
                                                          created={"type": "phone",
                                                                   "column": 0, "total": 3,
                                                                   "file_id": "file_gone"}))
        deadline = time.monotonic() + 60
        found: dict[str, Any] = {}
        while time.monotonic() < deadline and (found.get("status") != "failed"
                                               or not receiver.received("/hook")):
            await asyncio.sleep(0.2)  # 404 until the bulk projector has the job
            r = await http.get(base + JOBS, params={"id": job_id},
                               headers={"x-tenant-id": "bulk-fail"})
            found = r.json() if r.status_code == 200 else {}
    finally:
        await producer.stop()
    got = [orjson.loads(body) for _, body in receiver.received("/hook")]
    assert found["status"] == "failed" and "could not be read" in (found["error"] or ""), found
    assert found["completed_at"] is not None and found["processed"] == 0
    assert len(got) == 1, got
    assert got[0]["type"] == "bulk_job.failed" and got[0]["id"] == f"bulk:{job_id}:failed"
    assert got[0]["data"]["status"] == "failed" and got[0]["data"]["error"]
    gone = await http.get(base + JOBS + "/download", params={"id": job_id},
                          headers={"x-tenant-id": "bulk-fail"})
    assert gone.status_code == 409 and gone.json()["error"]["field"] == "id"
