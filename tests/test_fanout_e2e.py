"""Workflow fan-out end to end: real broker, a real worker (issue 10 item 6).

A CSV uploaded to a `fan_out: "rows"` workflow becomes a bulk job whose rows
are runs: the job counts a row when its RUN ends (a delay step keeps the runs
going after every row is launched, and the job must not have counted them),
the download names each row's run and result, a redelivered uploads-topic
record starts no second job and no duplicate runs, runs that fail are failed
rows, a free plan's per-minute limit refuses a file it could not start, and
the inline bulk call answers 429 over the plan's monthly credits.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from dev.workers import WorkerProcess
from streams.bulk.runs import job_id_of
from tests.helpers import create_workflow
from tests.kafka_fixture import BrokerSettings
from tests.tenants import make_key
from tests.test_bulk_e2e import csv_bytes

JOBS = "/api/bulk-jobs"
DONE = frozenset({"completed", "failed", "cancelled"})


def people(n: int) -> list[list[str]]:
    return [["name", "email"], *([f"person {i}", f"p{i}@example.com"] for i in range(n))]


async def job_of(http: httpx.AsyncClient, base: str, job_id: str, tenant: str
                 ) -> dict[str, Any]:
    r = await http.get(base + JOBS, params={"id": job_id}, headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_job(http: httpx.AsyncClient, base: str, job_id: str, tenant: str,
                   timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await job_of(http, base, job_id, tenant)
        if found["status"] in DONE:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"job {job_id} not done after {timeout}s: {found}")


async def runs_total(http: httpx.AsyncClient, base: str, wf: str, tenant: str) -> int:
    r = await http.get(f"{base}/api/workflows/runs", params={"workflow_id": wf, "limit": 1},
                       headers={"x-tenant-id": tenant})
    return int(r.json()["total"]) if r.status_code == 200 else 0


async def download(http: httpx.AsyncClient, base: str, job_id: str, tenant: str
                   ) -> list[dict[str, str]]:
    r = await http.get(base + JOBS + "/download", params={"id": job_id},
                       headers={"x-tenant-id": tenant})
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


def fan_out_workflow(name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "steps": steps,
            "trigger": {"type": "file_upload", "fan_out": "rows", "content_types": ["text/*"]}}


SHAPE = {"id": "shape", "type": "transform",
         "config": {"fields": {"to": "{{input.email}}", "who": "{{input.name}}"}}}


async def test_fifty_rows_fifty_runs_counted_when_they_end(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"fan-{uuid.uuid4().hex[:6]}"
    headers = {"x-tenant-id": tenant}
    bad = await http.post(f"{base}/api/workflows", headers=headers, json={
        "name": "bad", "steps": [SHAPE], "trigger": {"type": "file_upload", "fan_out": "cols"}})
    assert bad.status_code == 400 and "trigger.fan_out" in bad.text
    wf = await create_workflow(http, base, fan_out_workflow("rows", [
        {"id": "wait", "type": "delay", "config": {"seconds": 4}}, SHAPE]), tenant=tenant)
    r = await http.post(f"{base}/api/workflows/{wf}/upload", headers=headers,
                        files={"file": ("people.csv", csv_bytes(people(50)), "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    job = body["job"]
    assert job["type"] == "workflow" and job["total_rows"] == 50 and job["id"].startswith("job_")
    assert body["file"]["contentType"].startswith("text/csv")
    # every row launched (50 runs exist) while the job has counted none: the runs wait
    deadline = time.monotonic() + 60
    while await runs_total(http, base, wf, tenant) < 50:
        assert time.monotonic() < deadline, "the 50 runs were not launched"
        await asyncio.sleep(0.2)
    lagging = await job_of(http, base, job["id"], tenant)
    assert lagging["status"] in ("queued", "processing") and lagging["processed"] < 50, lagging
    done = await wait_job(http, base, job["id"], tenant)
    assert done["status"] == "completed", done
    assert (done["processed"], done["failed"], done["credits_used"]) == (50, 0, 0)
    assert await runs_total(http, base, wf, tenant) == 50
    rows = await download(http, base, job["id"], tenant)
    assert [row["email"] for row in rows] == [f"p{i}@example.com" for i in range(50)]
    assert all(row["status"] == "completed" and not row["error"] for row in rows)
    assert len({row["run_id"] for row in rows}) == 50
    result = orjson.loads(rows[7]["result"])
    assert result == {"to": "p7@example.com", "who": "person 7"}
    run = (await http.get(f"{base}/api/workflows/runs/{rows[7]['run_id']}",
                          headers=headers)).json()
    assert run["trigger"] == "file_upload" and run["input"] == {"name": "person 7",
                                                                 "email": "p7@example.com"}
    # CSV rules as for bulk jobs: 400 empty, 413 over 10,000 rows, naming file
    empty = await http.post(f"{base}/api/workflows/{wf}/upload", headers=headers,
                            files={"file": ("e.csv", b"name,email\n", "text/csv")})
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "file", empty.text
    big = await http.post(f"{base}/api/workflows/{wf}/upload", headers=headers,
                          files={"file": ("b.csv", csv_bytes(people(10_001)), "text/csv")})
    assert big.status_code == 413 and big.json()["error"]["field"] == "file", big.text


async def test_failed_runs_are_failed_rows(shared_worker: WorkerProcess,
                                           http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"fan-{uuid.uuid4().hex[:6]}"
    wf = await create_workflow(http, base, fan_out_workflow("fails", [
        {"id": "hook", "type": "webhook",
         "config": {"url": "http://169.254.169.254/latest/{{input.name}}"}}]), tenant=tenant)
    r = await http.post(f"{base}/api/workflows/{wf}/upload", headers={"x-tenant-id": tenant},
                        files={"file": ("p.csv", csv_bytes(people(3)), "text/csv")})
    assert r.status_code == 202, r.text
    done = await wait_job(http, base, r.json()["job"]["id"], tenant)
    assert (done["status"], done["processed"], done["failed"]) == ("completed", 0, 3), done
    rows = await download(http, base, done["id"], tenant)
    assert all(row["status"] == "failed" and row["error"] and row["run_id"] for row in rows)


async def test_a_redelivered_uploads_record_starts_one_job(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = shared_worker.url, f"fan-{uuid.uuid4().hex[:6]}"
    headers = {"x-tenant-id": tenant}
    wf = await create_workflow(http, base, fan_out_workflow("gateway", [SHAPE]), tenant=tenant)
    stored = await http.post(f"{base}/api/files", headers=headers,
                             files={"file": ("g.csv", csv_bytes(people(5)), "text/csv")})
    assert stored.status_code == 201, stored.text
    file_id = stored.json()["fileId"]
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        record = orjson.dumps({"tenant": tenant, "fileId": file_id, "workflowId": wf})
        for _ in range(2):
            await producer.send_and_wait(f"{shared_worker.app_id}.uploads", record,
                                         key=tenant.encode())
    finally:
        await producer.stop()
    job_id = job_id_of(tenant, wf, f"upload:{file_id}:{wf}")
    deadline = time.monotonic() + 60
    while (await http.get(base + JOBS, params={"id": job_id}, headers=headers)
           ).status_code != 200:
        assert time.monotonic() < deadline, "no job from the uploads record"
        await asyncio.sleep(0.2)
    done = await wait_job(http, base, job_id, tenant)
    assert (done["status"], done["processed"]) == ("completed", 5), done
    await asyncio.sleep(2.0)  # room for a duplicate to show up
    listed = (await http.get(base + JOBS, headers=headers)).json()
    assert [j["id"] for j in listed["data"]] == [job_id]
    assert await runs_total(http, base, wf, tenant) == 5


async def test_plan_limits(shared_worker: WorkerProcess, kafka_broker: BrokerSettings,
                           http: httpx.AsyncClient) -> None:
    """A free plan (5 runs a minute) is told up front; inline bulk keeps the credit cap."""
    base, tenant = shared_worker.url, f"fan-free-{uuid.uuid4().hex[:6]}"
    key = await make_key(kafka_broker.bootstrap, shared_worker.app_id, base, tenant,
                         plan="free")
    async with httpx.AsyncClient(timeout=60.0, headers={"x-api-key": key,
                                                         "x-tenant-id": tenant}) as free:
        r = await free.post(f"{base}/api/workflows", json=fan_out_workflow("free", [SHAPE]))
        assert r.status_code == 201, r.text
        wf = r.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            over = await free.post(f"{base}/api/workflows/{wf}/upload",
                                   files={"file": ("p.csv", csv_bytes(people(6)), "text/csv")})
            if over.status_code != 404 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)  # the new workflow reaching the registry replica
        assert over.status_code == 429, over.text
        assert over.json()["error"]["field"] == "file"
        assert "5 runs a minute" in over.json()["error"]["message"]
        ok = await free.post(f"{base}/api/workflows/{wf}/upload",
                             files={"file": ("p.csv", csv_bytes(people(2)), "text/csv")})
        assert ok.status_code == 202, ok.text
        done = await wait_job(free, base, ok.json()["job"]["id"], tenant)
        assert done["processed"] == 2, done
        emails = [f"p{i}@example.com" for i in range(501)]
        capped = await free.post(f"{base}/api/bulk-lookup", json={"emails": emails})
        assert capped.status_code == 429, capped.text
        error = capped.json()["error"]
        assert error["field"] == "emails" and "monthly_credits cap of 500" in error["message"]
        assert "retry-after" in capped.headers
        fine = await free.post(f"{base}/api/bulk-lookup", json={"emails": emails[:3]})
        assert fine.status_code == 200, fine.text
