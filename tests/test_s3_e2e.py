"""upload_s3 and the S3 file store end to end: real workers on a real broker, moto as S3.

- a stored file and a CSV rendered from step outputs uploaded with a credential created
  through the API, the bytes read back from moto;
- a peer that answers 503 once: the step is retried and completes;
- a wrong secret: the run fails for good naming S3's code, no secret in the step log;
- two workers sharing HOPFLOW_FILE_STORE=s3://...: runs reading a file put into the
  bucket by the test complete whichever worker executes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from steps.files import put_bytes
from steps.files_s3 import S3FileStore
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait
from tests.s3_peer import FlakyProxy, S3Peer

CREDS = "/api/workflows/credentials"
RETRY = {"max_retries": 3, "backoff_seconds": 0.2}


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory,
           s3_peer: S3Peer) -> Iterator[WorkerProcess]:
    """A worker whose own file store is the S3 bucket `hopflow-files` (created at first use)."""
    proc = WorkerProcess(app_id=fresh_app_id("s3"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("s3"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key(), **store_env(s3_peer)})
    proc.start()
    yield proc
    proc.stop()


def store_env(peer: S3Peer, bucket: str = "hopflow-files") -> dict[str, str]:
    return {"HOPFLOW_FILE_STORE": f"s3://{bucket}/files",
            "HOPFLOW_FILE_STORE_ENDPOINT": peer.endpoint,
            "HOPFLOW_FILE_STORE_ACCESS_KEY_ID": peer.access_key_id,
            "HOPFLOW_FILE_STORE_SECRET_ACCESS_KEY": peer.secret_access_key,
            "HOPFLOW_FILE_STORE_CREATE_BUCKET": "1"}


def store_of(peer: S3Peer, bucket: str = "hopflow-files") -> S3FileStore:
    """The same store the workers use (the test puts files into it)."""
    return S3FileStore(peer.target(bucket), "files", create_bucket=True)


async def credential(http: httpx.AsyncClient, base: str, peer: S3Peer, bucket: str,
                     **changes: str) -> str:
    data = {"bucket": bucket, "region": "us-east-1", "access_key_id": peer.access_key_id,
            "secret_access_key": peer.secret_access_key, "endpoint_url": peer.endpoint,
            "prefix": "exports"}
    data.update(changes)
    response = await http.post(f"{base}{CREDS}", json={"name": f"s3-{bucket}", "type": "s3",
                                                        "data": data})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def test_upload_stored_file_and_rendered_csv(worker: WorkerProcess, s3_peer: S3Peer,
                                                   http: httpx.AsyncClient) -> None:
    base = worker.url
    bucket = await s3_peer.new_bucket()
    cred = await credential(http, base, s3_peer, bucket)
    ref = await put_bytes(store_of(s3_peer), "default", b"\x89PNG\r\n\x1a\n" + b"\0" * 3000,
                          name="logo.png")
    wf = await create_workflow(http, base, {"name": "s3 exports", "steps": [
        {"id": "totals", "type": "transform",
         "config": {"fields": {"rows": [{"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": 1}]}}},
        {"id": "csv", "type": "upload_s3", "config": {
            "credential_id": cred, "path": "reports/{{input.day}}.csv", "content_type": "text/csv",
            "content": "sku,qty\n{% for row in steps.totals.rows %}{{row.sku}},{{row.qty}}\n"
                       "{% endfor %}"}},
        {"id": "logo", "type": "upload_s3", "config": {
            "credential_id": cred, "path": "/exports/img/{{input.file.name}}",
            "file": "{{input.file}}"}},
    ]})
    run = await run_and_wait(http, base, wf, {"day": "2026-11-23", "file": ref.to_json()})
    assert run["status"] == "completed", run
    csv_out, logo_out = (step["output"] for step in run["stepExecutionHistory"][1:])
    assert (csv_out["bucket"], csv_out["key"]) == (bucket, "exports/reports/2026-11-23.csv")
    assert await s3_peer.read(bucket, "exports/reports/2026-11-23.csv") == (
        b"sku,qty\nA-1,3\nB-2,1\n")
    assert logo_out["key"] == "exports/img/logo.png" and logo_out["sha256"] == ref.sha256
    assert await s3_peer.read(bucket, "exports/img/logo.png") == (
        b"\x89PNG\r\n\x1a\n" + b"\0" * 3000)
    assert logo_out["content_type"] == "image/png" and logo_out["etag"]


async def test_503_once_is_retried(worker: WorkerProcess, s3_peer: S3Peer,
                                   http: httpx.AsyncClient) -> None:
    base = worker.url
    proxy = await FlakyProxy(s3_peer.endpoint).start()
    try:
        bucket = await s3_peer.new_bucket()
        cred = await credential(http, base, s3_peer, bucket, endpoint_url=proxy.url)
        wf = await create_workflow(http, base, {"name": "flaky s3", "retry": RETRY, "steps": [
            {"id": "up", "type": "upload_s3",
             "config": {"credential_id": cred, "path": "x.txt", "content": "{{input.v}}"}}]})
        run = await run_and_wait(http, base, wf, {"v": "second time lucky"})
        assert run["status"] == "completed", run
        attempts = run["stepExecutionHistory"]
        assert [a["attempt"] for a in attempts] == [1, 2]
        assert "SlowDown" in attempts[0]["error"]
        assert proxy.refused == 1 and proxy.puts == 2
        assert await s3_peer.read(bucket, "exports/x.txt") == b"second time lucky"
    finally:
        await proxy.stop()


async def test_wrong_secret_fails_for_good_without_leaking(
        worker: WorkerProcess, s3_peer: S3Peer, http: httpx.AsyncClient) -> None:
    base = worker.url
    bucket = await s3_peer.new_bucket()
    wrong = "WrongSecretValue0123456789abcdefXYZ"
    cred = await credential(http, base, s3_peer, bucket, secret_access_key=wrong)
    wf = await create_workflow(http, base, {"name": "bad s3", "retry": RETRY, "steps": [
        {"id": "up", "type": "upload_s3",
         "config": {"credential_id": cred, "path": "x.txt", "content": "x"}}]})
    run = await run_and_wait(http, base, wf, {})
    assert run["status"] == "failed", run
    assert len(run["stepExecutionHistory"]) == 1  # permanent: not retried
    error = run["stepExecutionHistory"][0]["error"]
    assert "SignatureDoesNotMatch" in error or "InvalidAccessKeyId" in error
    logs = await http.get(f"{base}/api/workflows/runs/{run['runId']}/logs")
    assert logs.status_code == 200
    assert wrong not in logs.text and wrong not in str(run)


async def test_two_workers_share_the_s3_store(spawn_worker: Any, s3_peer: S3Peer,
                                              http: httpx.AsyncClient, tmp_path: Path) -> None:
    bucket = await s3_peer.new_bucket()
    env = store_env(s3_peer, bucket)
    first = spawn_worker(env=env)
    second = spawn_worker(env=env)
    ref = await put_bytes(store_of(s3_peer, bucket), "default",
                          b"sku,qty\nA-1,3\nB-2,1\n", name="orders.csv")
    wf = await create_workflow(http, first.url, {"name": "shared store", "steps": [
        {"id": "parse", "type": "parse", "config": {"file": "{{input.file}}"}}]})
    for i in range(8):
        via = (first, second)[i % 2]
        run = await run_and_wait(http, via.url, wf, {"file": {"fileId": ref.file_id}})
        assert run["status"] == "completed", run
        assert run["stepExecutionHistory"][0]["output"]["rows"][0] == {"sku": "A-1",
                                                                       "qty": "3"}
    # multipart starts (sync, keyed) on either worker: the attachment goes to the bucket,
    # the run's owner (either worker) parses it, the other worker serves the download
    attached = await create_workflow(http, first.url, {"name": "shared attachments", "steps": [
        {"id": "parse", "type": "parse", "config": {"file": "{{input.attachment}}"}}]})
    for i in range(4):
        via, other = (first, second) if i % 2 == 0 else (second, first)
        csv = f"sku,qty\nC-{i},{i}\n".encode()
        answer = await http.post(f"{via.url}/api/workflow/start/{attached}",
                                 headers={"Idempotency-Key": f"s3-{i}-{uuid.uuid4()}"},
                                 files={"attachment": (f"{i}.csv", csv)}, data={"i": str(i)})
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["status"] == "completed", run
        assert run["input"]["i"] == str(i)
        assert run["stepExecutionHistory"][0]["output"]["rows"] == [{"sku": f"C-{i}",
                                                                     "qty": str(i)}]
        file_id = run["input"]["fileId"]
        assert await s3_peer.read(bucket, f"files/default/{file_id}") == csv
        got = await http.get(f"{other.url}/api/files/{file_id}")
        assert got.status_code == 200 and got.content == csv
    for proc in (first, second):  # nothing came from (or went to) a local folder
        assert not (proc.home / "files").exists() or not any((proc.home / "files").iterdir())
