"""Cloud upload actions end to end: a real broker, a real worker, real local stores.

Azurite for Azure Blob; aiohttp servers speaking Box's and Dropbox's upload APIs
(tests/cloud_peers.py), reached through the outbound allow-list (127.0.0.1/32).
Credentials are created through the API; content comes from a file put into the
worker's own store and from rendered templates; every check reads the bytes
back from the store that received them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess, free_port
from steps.files import LocalFileStore, put_bytes
from streams.keyring import generate_key
from tests.cloud_peers import (
    AZ_ACCOUNT,
    AZ_KEY,
    BOX_TOKEN,
    DROPBOX_TOKEN,
    Azurite,
    Peer,
    box_file,
    box_peer,
    dropbox_peer,
)
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait

BOX_PORT = free_port()
DROPBOX_PORT = free_port()
CREDS = "/api/workflows/credentials"
RETRY = {"max_retries": 3, "backoff_seconds": 0.1}
CSV_TEMPLATE = "sku,qty\n{% for item in input.items %}{{item.sku}},{{item.qty}}\n{% endfor %}"
ITEMS = [{"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": 1}]
CSV = b"sku,qty\nA-1,3\nB-2,1\n"


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    server = Azurite()
    server.create_container("reports")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("uploads-cloud"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("uploads"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key(),
                              "HOPFLOW_BOX_UPLOAD_URL": f"http://127.0.0.1:{BOX_PORT}",
                              "HOPFLOW_BOX_API_URL": f"http://127.0.0.1:{BOX_PORT}",
                              "HOPFLOW_DROPBOX_CONTENT_URL": f"http://127.0.0.1:{DROPBOX_PORT}"})
    proc.start()
    yield proc
    proc.stop()


@pytest_asyncio.fixture
async def dbx() -> AsyncIterator[Peer]:
    peer = await dropbox_peer(DROPBOX_PORT)
    yield peer
    assert peer.runner is not None
    await peer.runner.cleanup()


@pytest_asyncio.fixture
async def boxy() -> AsyncIterator[Peer]:
    peer = await box_peer(BOX_PORT)
    yield peer
    assert peer.runner is not None
    await peer.runner.cleanup()


async def credential(http: httpx.AsyncClient, base: str, ctype: str,
                     data: dict[str, Any]) -> str:
    response = await http.post(f"{base}{CREDS}", json={"name": ctype, "type": ctype,
                                                        "data": data})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def upload_run(http: httpx.AsyncClient, base: str, step_type: str,
                     config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    wf = await create_workflow(http, base, {"name": step_type, "retry": RETRY, "steps": [
        {"id": "up", "type": step_type, "config": config}]})
    return await run_and_wait(http, base, wf, payload)


def attempts(run: dict[str, Any]) -> list[tuple[int, str]]:
    return [(s["attempt"], s["status"]) for s in run["stepExecutionHistory"]]


async def logs_of(http: httpx.AsyncClient, base: str, run: dict[str, Any]) -> str:
    response = await http.get(f"{base}/api/workflows/runs/{run['runId']}/logs")
    return orjson.dumps(run).decode() + response.text


async def test_azure_blob_stored_file_and_rendered_csv(
        worker: WorkerProcess, http: httpx.AsyncClient, azurite: Azurite) -> None:
    base = worker.url
    cred = await credential(http, base, "azure_blob", {
        "account_name": AZ_ACCOUNT, "container": "reports", "account_key": AZ_KEY,
        "endpoint_url": azurite.endpoint})
    store = LocalFileStore(worker.home / "files")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 64
    ref = await put_bytes(store, "default", pdf, name="invoice.pdf",
                          content_type="application/pdf")
    stored = await upload_run(http, base, "upload_azure_blob", {
        "credential_id": cred, "path": "invoices/{{input.number}}.pdf",
        "file": "{{input.file}}"}, {"number": "INV-7", "file": {"fileId": ref.file_id}})
    assert stored["status"] == "completed", stored
    assert stored["stepExecutionHistory"][0]["output"]["path"] == "invoices/INV-7.pdf"
    back = azurite.read("reports", "invoices/INV-7.pdf")
    assert back.content == pdf and back.headers["content-type"] == "application/pdf"

    rendered = await upload_run(http, base, "upload_azure_blob", {
        "credential_id": cred, "path": "csv/{{input.name}}.csv", "content": CSV_TEMPLATE,
        "content_type": "text/csv", "overwrite": False}, {"name": "daily", "items": ITEMS})
    assert rendered["status"] == "completed", rendered
    assert azurite.read("reports", "csv/daily.csv").content == CSV
    # the same name with overwrite false: permanent, no retry, the blob unchanged
    again = await upload_run(http, base, "upload_azure_blob", {
        "credential_id": cred, "path": "csv/{{input.name}}.csv", "content": "other",
        "overwrite": False}, {"name": "daily"})
    assert again["status"] == "failed" and attempts(again) == [(1, "failed")], again
    assert "already exists" in again["stepExecutionHistory"][0]["error"]
    assert azurite.read("reports", "csv/daily.csv").content == CSV
    assert AZ_KEY not in await logs_of(http, base, again)


async def test_dropbox_retry_conflict_bad_token_and_outside_base(
        worker: WorkerProcess, http: httpx.AsyncClient, dbx: Peer) -> None:
    base = worker.url
    cred = await credential(http, base, "dropbox", {"access_token": DROPBOX_TOKEN,
                                                    "base_path": "/Apps/hop"})
    dbx.fail_next = 1  # the first attempt gets a 503: the run retries and completes
    run = await upload_run(http, base, "upload_dropbox", {
        "credential_id": cred, "path": "reports/{{input.name}}.csv", "content": CSV_TEMPLATE},
        {"name": "été", "items": ITEMS})
    assert run["status"] == "completed", run
    assert attempts(run) == [(1, "failed"), (2, "completed")]
    assert dbx.files["/Apps/hop/reports/été.csv"] == CSV
    assert "\\u00e9t\\u00e9" in dbx.seen[-1]["arg"]  # the header stays ASCII
    assert DROPBOX_TOKEN not in await logs_of(http, base, run)

    existing = await upload_run(http, base, "upload_dropbox", {
        "credential_id": cred, "path": "reports/été.csv", "content": "new",
        "overwrite": False}, {})
    assert existing["status"] == "failed" and attempts(existing) == [(1, "failed")]
    assert "already exists" in existing["stepExecutionHistory"][0]["error"]
    assert dbx.files["/Apps/hop/reports/été.csv"] == CSV

    outside = await upload_run(http, base, "upload_dropbox", {
        "credential_id": cred, "path": "{{input.path}}", "content": "x"},
        {"path": "/Other/secret.csv"})
    assert outside["status"] == "failed" and attempts(outside) == [(1, "failed")]
    assert "'/Other/secret.csv' is outside the credential's base" in outside[
        "stepExecutionHistory"][0]["error"]

    bad_token = "dbx-wrong-0f9e8d"
    bad = await credential(http, base, "dropbox", {"access_token": bad_token})
    denied = await upload_run(http, base, "upload_dropbox", {
        "credential_id": bad, "path": "x.csv", "content": "x"}, {})
    assert denied["status"] == "failed" and attempts(denied) == [(1, "failed")]
    assert "HTTP 401" in denied["stepExecutionHistory"][0]["error"]
    assert bad_token not in await logs_of(http, base, denied)
    assert "/x.csv" not in dbx.files


async def test_box_stored_file_in_folders_versions_and_retry(
        worker: WorkerProcess, http: httpx.AsyncClient, boxy: Peer) -> None:
    base = worker.url
    cred = await credential(http, base, "box", {"access_token": BOX_TOKEN, "folder_id": "0"})
    store = LocalFileStore(worker.home / "files")
    ref = await put_bytes(store, "default", b"col\n1\n", name="data.csv")
    boxy.fail_next = 1
    run = await upload_run(http, base, "upload_box", {
        "credential_id": cred, "path": "exports/{{input.day}}/data.csv",
        "file": "{{input.file}}"}, {"day": "2024-05-01", "file": {"fileId": ref.file_id}})
    assert run["status"] == "completed", run
    assert attempts(run) == [(1, "failed"), (2, "completed")]
    assert box_file(boxy, "exports/2024-05-01/data.csv") == b"col\n1\n"
    assert BOX_TOKEN not in await logs_of(http, base, run)

    version = await upload_run(http, base, "upload_box", {
        "credential_id": cred, "path": "exports/2024-05-01/data.csv", "content": CSV_TEMPLATE},
        {"items": ITEMS})
    assert version["status"] == "completed", version
    assert version["stepExecutionHistory"][0]["output"]["new_version"] is True
    assert box_file(boxy, "exports/2024-05-01/data.csv") == CSV

    kept = await upload_run(http, base, "upload_box", {
        "credential_id": cred, "path": "exports/2024-05-01/data.csv", "content": "no",
        "overwrite": False}, {})
    assert kept["status"] == "failed" and attempts(kept) == [(1, "failed")]
    assert "already exists" in kept["stepExecutionHistory"][0]["error"]
    assert box_file(boxy, "exports/2024-05-01/data.csv") == CSV


async def test_bad_upload_config_is_a_400_naming_the_field(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    response = await http.post(f"{worker.url}/api/workflows", json={"name": "bad", "steps": [
        {"id": "up", "type": "upload_dropbox",
         "config": {"credential_id": "c", "path": "../x.csv", "content": "x"}}]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "steps[0].config.path"
