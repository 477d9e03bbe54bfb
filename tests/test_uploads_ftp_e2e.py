"""upload_ftp / upload_sftp end to end: a real broker, a real worker, real local servers.

Credentials are created through the API; a transform feeds a CSV template; a
stored file is put into the worker's own store; the servers' folders are read
back. The worker reaches 127.0.0.1 through the outbound allow-list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import asyncssh
import httpx
import pytest

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from steps.files import LocalFileStore, put_bytes
from streams.keyring import generate_key
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, get_run, run_and_wait
from tests.upload_peers import PASSWORD, USER, Peer, ftp_server, sftp_server

CREDS = "/api/workflows/credentials"
RETRY = {"max_retries": 2, "backoff_seconds": 0.2}
CSV = ("sku,qty\n{% for r in steps.shape.rows %}{{ r.sku }},{{ r.qty }}\n{% endfor %}")


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("uploads-ftp"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("uploads"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key()})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ftps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with ftp_server(tmp_path_factory.mktemp("ftps-root"), tls_dir=tmp_path_factory.mktemp(
            "ftps-tls"), masquerade="10.255.255.1") as peer:
        yield peer


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with ftp_server(tmp_path_factory.mktemp("busy-root"), drop_first=True) as peer:
        yield peer


@pytest.fixture(scope="module")
def ssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with sftp_server(tmp_path_factory.mktemp("sftp-root")) as peer:
        yield peer


async def credential(http: httpx.AsyncClient, base: str, ctype: str,
                     data: dict[str, Any]) -> str:
    response = await http.post(f"{base}{CREDS}", json={"name": ctype, "type": ctype,
                                                        "data": data})
    assert response.status_code == 201, response.text
    assert PASSWORD not in response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def upload(step_type: str, credential_id: str, **config: Any) -> dict[str, Any]:
    return {"id": "up", "type": step_type, "config": {"credential_id": credential_id, **config}}


async def test_ftps_csv_from_a_template(worker: WorkerProcess, http: httpx.AsyncClient,
                                        ftps: Peer) -> None:
    base = worker.url
    cid = await credential(http, base, "ftp", {
        "host": "localhost", "port": ftps.port, "username": USER, "password": PASSWORD,
        "ca_cert": ftps.pem, "base_path": "/exports"})
    ftps.watch = "exports/2026/orders.csv"
    wf = await create_workflow(http, base, {"name": "csv to ftps", "steps": [
        {"id": "shape", "type": "transform", "config": {"source": "input"}},
        upload("upload_ftp", cid, path="2026/{{input.name}}.csv", content=CSV,
               content_type="text/csv")]})
    run = await run_and_wait(http, base, wf, {"name": "orders", "rows": [
        {"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": 1}]})
    assert run["status"] == "completed", run
    assert ftps.files() == {"exports/2026/orders.csv": b"sku,qty\nA-1,3\nB-2,1\n"}
    [(temp, final_existed)] = ftps.received
    assert temp.startswith("exports/2026/.orders.csv.") and temp.endswith(".part")
    assert final_existed is False
    step = run["stepExecutionHistory"][-1]
    assert step["output"]["path"] == "/exports/2026/orders.csv" and step["output"]["tls"]
    logged = (await get_run(http, base, run["runId"])).text
    assert PASSWORD not in logged and "BEGIN CERTIFICATE" not in logged


async def test_sftp_stored_file(worker: WorkerProcess, http: httpx.AsyncClient,
                                ssh: Peer) -> None:
    base = worker.url
    store = LocalFileStore(worker.home / "files")  # the worker's own store
    data = os.urandom(1536 * 1024)  # over 1 MB: streamed, not read whole
    ref = await put_bytes(store, "default", data, name="scan.bin")
    cid = await credential(http, base, "sftp", {
        "host": "127.0.0.1", "port": ssh.port, "username": USER, "password": PASSWORD,
        "host_key": ssh.host_key, "base_path": "/in"})
    wf = await create_workflow(http, base, {"name": "file to sftp", "steps": [
        {"id": "shape", "type": "transform", "config": {"source": "input"}},
        upload("upload_sftp", cid, path="scans/{{input.file.fileId}}.bin",
               file="{{input.file}}")]})
    run = await run_and_wait(http, base, wf, {"file": {"fileId": ref.file_id}})
    assert run["status"] == "completed", run
    assert ssh.files() == {f"in/scans/{ref.file_id}.bin": data}
    assert run["stepExecutionHistory"][-1]["output"]["sha256"] == ref.sha256
    logged = (await get_run(http, base, run["runId"])).text
    assert PASSWORD not in logged


async def test_sftp_wrong_host_key_fails_for_good(worker: WorkerProcess,
                                                  http: httpx.AsyncClient,
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    base = worker.url
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    with sftp_server(tmp_path_factory.mktemp("impostor")) as impostor:
        cid = await credential(http, base, "sftp", {
            "host": "127.0.0.1", "port": impostor.port, "username": USER,
            "password": PASSWORD, "host_key": other})
        wf = await create_workflow(http, base, {"name": "pinned", "retry": RETRY, "steps": [
            upload("upload_sftp", cid, path="x.txt", content="secret report")]})
        run = await run_and_wait(http, base, wf, {})
        assert run["status"] == "failed", run
        steps = run["stepExecutionHistory"]
        assert [(s["attempt"], s["status"]) for s in steps] == [(1, "failed")]  # no retry
        assert "host key mismatch" in steps[0]["error"]
        assert other.split()[1] not in run["error"] + steps[0]["error"]
        assert impostor.files() == {}


async def test_ftp_421_once_is_retried(worker: WorkerProcess, http: httpx.AsyncClient,
                                       busy: Peer) -> None:
    base = worker.url
    cid = await credential(http, base, "ftp", {
        "host": "127.0.0.1", "port": busy.port, "username": USER, "password": PASSWORD,
        "use_tls": False})
    wf = await create_workflow(http, base, {"name": "busy ftp", "retry": RETRY, "steps": [
        upload("upload_ftp", cid, path="a/b.txt", content="hello {{input.who}}")]})
    run = await run_and_wait(http, base, wf, {"who": "ftp"})
    assert run["status"] == "completed", run
    steps = run["stepExecutionHistory"]
    assert [(s["attempt"], s["status"]) for s in steps] == [(1, "failed"), (2, "completed")]
    assert "unavailable for now" in steps[0]["error"]
    assert busy.files() == {"a/b.txt": b"hello ftp"}


async def test_path_escaping_base_fails_for_good(worker: WorkerProcess,
                                                 http: httpx.AsyncClient, busy: Peer) -> None:
    base = worker.url
    cid = await credential(http, base, "ftp", {
        "host": "127.0.0.1", "port": busy.port, "username": USER, "password": PASSWORD,
        "use_tls": False, "base_path": "/safe"})
    wf = await create_workflow(http, base, {"name": "escape", "retry": RETRY, "steps": [
        upload("upload_ftp", cid, path="{{input.p}}", content="x")]})
    for bad in ("../x", "/etc/cron.d/x"):
        run = await run_and_wait(http, base, wf, {"p": bad})
        assert run["status"] == "failed", run
        steps = run["stepExecutionHistory"]
        assert [(s["attempt"], s["status"]) for s in steps] == [(1, "failed")]
        assert "path" in steps[0]["error"] and repr(bad) in steps[0]["error"]
    assert not any(name.startswith("etc") or name == "x" for name in busy.files())
