"""Files end to end: multipart attachments, downloads, the upload route and the uploads topic.

A real broker and a real worker: a PDF sent as `attachment` with form fields is
parsed by the run through `{{input.attachment}}`; the stored bytes come back
from GET /api/files for the owner only; caps, empty files and missing
attachments are 4xx naming the field and leave nothing in the store; the
file_upload trigger's filters answer 415/413; an uploads-topic record starts a
run once (even redelivered), and a record naming no stored file is dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, wait_status
from tests.pdfs import make_pdf
from tests.test_ingest_e2e import dead_letters

PDF = make_pdf(["Invoice INV-7\nTotal: 12.00 EUR"], title="Invoice INV-7")
PARSE = [{"id": "parse", "type": "parse", "config": {"file": "{{input.attachment}}"}}]
DONE = {"completed", "failed", "cancelled"}


def stored_files(worker: WorkerProcess, tenant: str = "default") -> set[str]:
    folder = Path(worker.home) / "files" / tenant
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


async def test_multipart_start_async_and_sync_parse_the_attachment(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "attachments", "steps": PARSE})
    accepted = await http.post(f"{base}/api/workflow/start-async/{wf}",
                               files={"attachment": ("invoice.bin", PDF)},
                               data={"customerName": "John Doe", "documentType": "invoice"})
    assert accepted.status_code == 202, accepted.text
    run = await wait_status(http, base, accepted.json()["runId"], DONE)
    assert run["status"] == "completed", run
    given = run["input"]
    assert given["customerName"] == "John Doe" and given["documentType"] == "invoice"
    ref = given["attachment"]
    assert given["fileId"] == ref["fileId"]
    assert ref["name"] == "invoice.bin" and ref["size"] == len(PDF)
    assert ref["contentType"] == "application/pdf"  # sniffed from the bytes, not the name
    assert ref["sha256"] == hashlib.sha256(PDF).hexdigest()
    parsed = run["stepExecutionHistory"][0]["output"]
    assert parsed["source"]["fileId"] == ref["fileId"]
    assert "Invoice INV-7" in parsed["pages"][0]

    # the same through the sync path and /run (what the run's owner gets is JSON + reference)
    for url in (f"{base}/api/workflow/start/{wf}", f"{base}/api/workflows/{wf}/run?wait=true"):
        done = await http.post(url, files={"attachment": ("x.pdf", PDF)}, data={"n": "1"},
                               headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed", done.json()
        assert done.json()["input"]["n"] == "1"

    # the owner downloads the very bytes; another tenant gets the 404 of a missing file
    got = await http.get(f"{base}/api/files/{ref['fileId']}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert ref["sha256"] in got.headers["etag"]
    meta = await http.get(f"{base}/api/files/{ref['fileId']}/meta")
    assert meta.json() == ref
    for path in (ref["fileId"], f"{ref['fileId']}/meta"):
        other = await http.get(f"{base}/api/files/{path}", headers={"x-tenant-id": "other-co"})
        assert other.status_code == 404, other.text
    missing = await http.get(f"{base}/api/files/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_bad_attachments_are_4xx_naming_the_field_and_leave_nothing(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "caps", "steps": PARSE})
    before = stored_files(shared_worker)
    big = b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024)
    too_big = await http.post(f"{base}/api/workflow/start-async/{wf}",
                              files={"attachment": ("big.pdf", big)})
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["field"] == "attachment"

    async def chunked() -> Any:  # no Content-Length: the cap holds while streaming
        for _ in range(64):
            yield b"-" * 65536
    streamed = await http.post(
        f"{base}/api/workflow/start-async/{wf}", content=_multipart_stream(chunked()),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["field"] == "attachment"

    empty = await http.post(f"{base}/api/workflow/start-async/{wf}",
                            files={"attachment": ("e.pdf", b"")})
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "attachment"

    needs = await create_workflow(http, base, {"name": "needs a file", "steps": PARSE,
                                               "trigger": {"type": "file_upload"}})
    none = await http.post(f"{base}/api/workflow/start-async/{needs}", data={"a": "b"},
                           files={"other": (None, "x")})
    assert none.status_code == 400 and none.json()["error"]["field"] == "attachment"
    as_json = await http.post(f"{base}/api/workflow/start-async/{needs}", json={"data": {}})
    assert as_json.status_code == 400 and as_json.json()["error"]["field"] == "attachment"

    # a refused start (no such workflow, a bad input) keeps no file
    schema_wf = await create_workflow(http, base, {
        "name": "schema", "steps": PARSE,
        "inputSchema": {"type": "object", "required": ["customer"],
                        "properties": {"customer": {"type": "string"}}}})
    bad_input = await http.post(f"{base}/api/workflow/start-async/{schema_wf}",
                                files={"attachment": ("a.pdf", PDF)})
    assert bad_input.status_code == 400 and bad_input.json()["error"]["field"].endswith("customer")
    ghost = await http.post(f"{base}/api/workflow/start-async/wf_ghost",
                            files={"attachment": ("a.pdf", PDF)})
    assert ghost.status_code == 404
    assert stored_files(shared_worker) == before


BOUNDARY = "hopflowtestboundary"


async def runs_of(http: httpx.AsyncClient, base: str, wf: str, headers: dict[str, str]
                  ) -> list[dict[str, Any]]:
    """The workflow's ended runs, once one arrived (+ a beat for a duplicate to show up)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = await http.get(f"{base}/api/workflows/runs", params={"workflow_id": wf},
                                headers=headers)
        data = listed.json()["data"] if listed.status_code == 200 else []
        if data and all(r["status"] in DONE for r in data):
            await asyncio.sleep(1.5)
            listed = await http.get(f"{base}/api/workflows/runs",
                                    params={"workflow_id": wf}, headers=headers)
            return listed.json()["data"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no ended run of {wf}")


async def _multipart_stream(body: Any) -> Any:
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment\"; "
           f"filename=\"s.bin\"\r\n\r\n").encode()
    async for chunk in body:
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_upload_route_applies_the_trigger_filters(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    bad = await http.post(f"{base}/api/workflows", json={
        "name": "bad filter", "steps": PARSE,
        "trigger": {"type": "file_upload", "content_types": ["not a type"]}})
    assert bad.status_code == 400 and "trigger.content_types" in bad.text
    bad_size = await http.post(f"{base}/api/workflows", json={
        "name": "bad size", "steps": PARSE, "trigger": {"type": "file_upload", "max_size": 0}})
    assert bad_size.status_code == 400 and "trigger.max_size" in bad_size.text
    wf = await create_workflow(http, base, {
        "name": "pdf inbox", "steps": [{"id": "parse", "type": "parse",
                                        "config": {"file": "{{input.file}}"}}],
        "trigger": {"type": "file_upload", "content_types": ["application/pdf", "image/*"],
                    "max_size": 2000}})
    before = stored_files(shared_worker)
    csv = await http.post(f"{base}/api/workflows/{wf}/upload",
                          files={"file": ("a.csv", b"a,b\n1,2\n")})
    assert csv.status_code == 415 and csv.json()["error"]["field"] == "file"
    large = await http.post(f"{base}/api/workflows/{wf}/upload",
                            files={"file": ("big.pdf", PDF + b"%" * 3000)})
    assert large.status_code == 413 and large.json()["error"]["field"] == "file"
    assert stored_files(shared_worker) == before
    ok = await http.post(f"{base}/api/workflows/{wf}/upload",
                         files={"file": ("in.pdf", PDF)}, data={"source": "scanner"})
    assert ok.status_code == 202, ok.text
    body = ok.json()
    assert body["file"]["contentType"] == "application/pdf"
    run = await wait_status(http, base, body["runId"], DONE)
    assert run["status"] == "completed", run
    assert run["trigger"] == "file_upload"
    assert run["input"]["source"] == "scanner"
    assert run["input"]["fileId"] == body["file"]["fileId"] == run["input"]["file"]["fileId"]

    manual = await create_workflow(http, base, {"name": "manual", "steps": PARSE})
    wrong = await http.post(f"{base}/api/workflows/{manual}/upload",
                            files={"file": ("in.pdf", PDF)})
    assert wrong.status_code == 409 and wrong.json()["error"]["field"] == "trigger"


async def test_uploads_topic_starts_runs_once_and_dead_letters_missing_files(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    tenant = f"gw-{uuid.uuid4().hex[:6]}"
    headers = {"x-tenant-id": tenant}
    wf = await create_workflow(http, base, {
        "name": "gateway pdfs", "steps": [{"id": "parse", "type": "parse",
                                           "config": {"file": "{{input.file}}"}}],
        "trigger": {"type": "file_upload", "content_types": ["application/pdf"]}},
        tenant=tenant)
    csv_only = await create_workflow(http, base, {
        "name": "gateway csvs", "steps": PARSE,
        "trigger": {"type": "file_upload", "content_types": ["text/csv"]}}, tenant=tenant)
    stored = await http.post(f"{base}/api/files", files={"file": ("g.pdf", PDF)},
                             headers=headers)
    assert stored.status_code == 201, stored.text
    file_id = stored.json()["fileId"]
    topic = f"{shared_worker.app_id}.uploads"
    ghost_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        record = orjson.dumps({"tenant": tenant, "fileId": file_id, "input": {"via": "gw"}})
        for _ in range(2):  # redelivered: one run
            await producer.send_and_wait(topic, record, key=tenant.encode())
        await producer.send_and_wait(topic, orjson.dumps(
            {"tenant": tenant, "fileId": ghost_id, "workflowId": wf}), key=tenant.encode())
    finally:
        await producer.stop()
    runs = await runs_of(http, base, wf, headers)
    assert len(runs) == 1, runs
    run = runs[0]
    assert run["trigger"] == "file_upload" and run["input"]["via"] == "gw"
    assert run["status"] == "completed", run
    assert run["input"]["fileId"] == file_id
    letters = await dead_letters(shared_worker, 1)
    assert any(ghost_id in x["reason"] and "fileId" in x["reason"] for x in letters), letters
    csv_runs = await http.get(f"{base}/api/workflows/runs", params={"workflow_id": csv_only},
                              headers=headers)
    assert csv_runs.json()["data"] == []


async def test_a_retried_upload_with_the_same_key_names_one_run_and_keeps_one_file(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "retried", "steps": PARSE})
    before = stored_files(shared_worker)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    answers = [await http.post(f"{base}/api/workflow/start/{wf}", headers=key,
                               files={"attachment": ("r.pdf", PDF)}, data={"n": "1"})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["runId"] == answers[1].json()["runId"]
    file_id = answers[0].json()["input"]["fileId"]
    assert stored_files(shared_worker) - before == {file_id, f"{file_id}.json"}
    changed = await http.post(f"{base}/api/workflow/start/{wf}", headers=key,
                              files={"attachment": ("r.pdf", PDF + b"%")}, data={"n": "1"})
    assert changed.status_code == 409, changed.text
    assert stored_files(shared_worker) - before == {file_id, f"{file_id}.json"}


async def test_starts_forwarded_to_the_owner_carry_the_reference(
        spawn_worker: Callable[..., WorkerProcess], http: httpx.AsyncClient) -> None:
    """Two workers: a keyed or sync multipart start whose run another worker owns is
    forwarded as JSON with the stored file's reference, and still parses the file."""
    first = spawn_worker()
    second = spawn_worker()
    wf = await create_workflow(http, first.url, {"name": "two workers", "steps": PARSE})
    await asyncio.sleep(3.0)  # let the group settle on two members
    for i in range(8):
        base = (first, second)[i % 2].url
        answer = await http.post(f"{base}/api/workflow/start/{wf}",
                                 headers={"Idempotency-Key": f"fw-{i}-{uuid.uuid4()}"},
                                 files={"attachment": (f"{i}.pdf", PDF)}, data={"i": str(i)})
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["status"] == "completed", run
        assert run["input"]["i"] == str(i) and run["input"]["attachment"]["name"] == f"{i}.pdf"
        assert "Invoice INV-7" in run["stepExecutionHistory"][0]["output"]["pages"][0]


async def test_the_002_execute_alias_takes_an_attachment_and_the_cap_is_exact(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    """`POST /api/workflows/{id}/execute` (002) takes multipart like the other start
    routes; a file of exactly 3.75 MB is taken (multipart framing on top of it does not
    trip the body limits), one byte more is 413 and stores nothing."""
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "002 attachments", "steps": PARSE})
    started = await http.post(f"{base}/api/workflows/{wf}/execute",
                              files={"attachment": ("via-002.pdf", PDF)}, data={"k": "v"})
    assert started.status_code == 202, started.text
    execution = started.json()
    assert set(execution) >= {"execution_id", "status", "started_at"}, execution
    run = await wait_status(http, base, execution["execution_id"], DONE)
    assert run["status"] == "completed", run
    assert run["input"]["k"] == "v" and run["input"]["attachment"]["name"] == "via-002.pdf"
    assert "Invoice INV-7" in run["stepExecutionHistory"][0]["output"]["pages"][0]

    cap = 3_932_160
    keep = await create_workflow(http, base, {"name": "at the cap", "steps": [
        {"id": "t", "type": "transform",
         "config": {"fields": {"n": "{{input.attachment.size}}"}}}]})
    before = stored_files(shared_worker)
    at_cap = await http.post(f"{base}/api/workflow/start-async/{keep}",
                             files={"attachment": ("cap.bin", b"\0" * cap)}, data={"a": "b"})
    assert at_cap.status_code == 202, at_cap.text
    run = await wait_status(http, base, at_cap.json()["runId"], DONE)
    assert run["input"]["attachment"]["size"] == cap, run
    over = await http.post(f"{base}/api/workflows/{keep}/execute",
                           files={"attachment": ("over.bin", b"\0" * (cap + 1))})
    assert over.status_code == 413, over.text
    assert over.json()["error"]["field"] == "attachment"
    assert stored_files(shared_worker) - before == {run["input"]["fileId"],
                                                    f"{run['input']['fileId']}.json"}
