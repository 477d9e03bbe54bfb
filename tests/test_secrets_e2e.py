"""Secrets and typed credentials end to end: a real broker, real workers, a real HTTP peer.

The proofs that matter: a secret's value reaches the peer it is meant for and
nothing else (not a response, a run event, a step log, the history store, a
Kafka topic or the worker's log), a key rotation keeps every value readable,
and a step whose secret or credential is gone fails with a clear error.
"""

from __future__ import annotations

import asyncio
import os
import secrets as random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.sink import Sink
from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from schemas.registry import entry_key
from steps.redact import MASK
from streams.control import client
from streams.keyring import Keyring, generate_key
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, run_and_wait
from tests.tenants import KeyAuth

KEY_A = generate_key()
GRACE_SECONDS = 2
SECRETS = "/api/workflows/secrets"
CREDENTIALS = "/api/workflows/credentials"
V4 = "/api/v4/workflows/credentials"


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("secrets"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("secrets"),
                         env={"HOPFLOW_SECRETS_KEYS": KEY_A,
                              "HOPFLOW_RUN_GRACE_SECONDS": str(GRACE_SECONDS)})
    proc.start()
    yield proc
    proc.stop()


def value() -> str:
    """A secret nobody could find by accident."""
    return f"sv-{random.token_hex(12)}"


def tenant_headers(tenant: str) -> dict[str, str]:
    return {"x-tenant-id": tenant}


async def put_secret(http: httpx.AsyncClient, base: str, name: str, secret: str,
                     tenant: str = "default") -> httpx.Response:
    return await http.post(f"{base}{SECRETS}", json={"name": name, "value": secret},
                           headers=tenant_headers(tenant))


async def all_topic_bytes(bootstrap: str, app_id: str) -> bytes:
    """Every record (keys and values) of every topic of the deployment, concatenated."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    chunks: list[bytes] = []
    try:
        topics = [t for t in await consumer.topics() if t.startswith(app_id)]
        await consumer._client.force_metadata_update()  # partitions of all of them
        tps = [TopicPartition(t, p) for t in topics
               for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and [
                tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    chunks.append(record.key or b"")
                    chunks.append(record.value or b"")
    finally:
        await consumer.stop()
    assert topics, f"no topics of {app_id}"
    return b"\n".join(chunks)


def store_bytes(worker: WorkerProcess) -> bytes:
    """The worker's embedded history store, every file of it (WAL included)."""
    datadir = worker.home / "workers" / f"{worker.app_id}-{worker.port}"
    files = sorted(datadir.glob("history.sqlite3*"))
    assert files, f"no history store under {datadir}"
    return b"".join(f.read_bytes() for f in files)


async def from_history(http: httpx.AsyncClient, base: str, run_id: str, tenant: str
                       ) -> dict[str, Any]:
    """The run as the history store answers for it, once it left the live table."""
    deadline = time.monotonic() + GRACE_SECONDS + 30
    while time.monotonic() < deadline:
        response = await http.get(f"{base}/api/workflows/runs/{run_id}",
                                  headers=tenant_headers(tenant))
        if response.status_code == 200 and response.headers.get("x-hopflow-source") == "history":
            return response.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.3)
    raise AssertionError(f"run {run_id} never served from the history store")


def header(received: Any, name: str) -> str | None:
    return {k.lower(): v for k, v in received.headers.items()}.get(name.lower())


# ---------------------------------------------------------------- secrets API

async def test_secrets_set_list_delete_never_show_values(
        worker: WorkerProcess, http: httpx.AsyncClient, key_auth: KeyAuth,
        kafka_broker: BrokerSettings) -> None:
    base, tenant = worker.url, "sec-api"
    first, second = value(), value()
    created = await put_secret(http, base, "api_token", first, tenant)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "api_token" and created.json()["created"] is True
    replaced = await put_secret(http, base, "api_token", second, tenant)
    assert replaced.status_code == 200 and replaced.json()["created"] is False
    assert (await put_secret(http, base, "other", value(), tenant)).status_code == 201

    listed = await http.get(f"{base}{SECRETS}", headers=tenant_headers(tenant))
    assert listed.status_code == 200
    body = listed.json()
    assert [s["name"] for s in body["data"]] == ["api_token", "other"] and body["total"] == 2
    assert set(body["data"][0]) == {"name", "createdAt", "updatedAt", "updatedBy"}
    assert first not in listed.text and second not in listed.text
    assert "ciphertext" not in listed.text and "gAAAA" not in listed.text  # no Fernet token
    # another tenant sees none of them
    other = await http.get(f"{base}{SECRETS}", headers=tenant_headers("sec-api-other"))
    assert other.json()["total"] == 0

    # a member reads names but cannot write
    member = await key_auth.key(base, worker.port, tenant, role="member")
    as_member = {"x-api-key": member, "x-tenant-id": tenant}
    assert (await http.get(f"{base}{SECRETS}", headers=as_member)).status_code == 200
    refused = await http.post(f"{base}{SECRETS}", json={"name": "x", "value": "y"},
                              headers=as_member)
    assert refused.status_code == 403

    for bad, field in (({"name": "1bad", "value": "v"}, "name"),
                       ({"name": "ok", "value": 5}, "value"),
                       ({"value": "v"}, "name"),
                       ({"name": "big", "value": "x" * (64 * 1024 + 1)}, "value")):
        response = await http.post(f"{base}{SECRETS}", json=bad, headers=tenant_headers(tenant))
        assert response.status_code == 400 and response.json()["error"]["field"] == field
    assert (await http.post(f"{base}{SECRETS}", json={"name": "edge", "value": "x" * 65536},
                            headers=tenant_headers(tenant))).status_code == 201

    deleted = await http.request("DELETE", f"{base}{SECRETS}", json={"name": "api_token"},
                                 headers=tenant_headers(tenant))
    assert deleted.status_code == 200 and deleted.json() == {"name": "api_token",
                                                             "deleted": True}
    by_query = await http.delete(f"{base}{SECRETS}", params={"name": "other"},
                                 headers=tenant_headers(tenant))
    assert by_query.status_code == 200
    again = await http.delete(f"{base}{SECRETS}", params={"name": "other"},
                              headers=tenant_headers(tenant))
    assert again.status_code == 404
    names = [s["name"] for s in (await http.get(f"{base}{SECRETS}",
                                                headers=tenant_headers(tenant))).json()["data"]]
    assert names == ["edge"]

    # the plaintext never reached Kafka: commands and registry carry ciphertext only
    raw = await all_topic_bytes(kafka_broker.bootstrap, worker.app_id)
    assert first.encode() not in raw and second.encode() not in raw


async def test_without_a_key_secrets_answer_503(spawn_worker: Any,
                                                http: httpx.AsyncClient) -> None:
    bare = spawn_worker(env={"HOPFLOW_SECRETS_KEYS": ""})
    response = await put_secret(http, bare.url, "tok", "v")
    assert response.status_code == 503
    assert "HOPFLOW_SECRETS_KEYS" in response.json()["error"]["message"]
    created = await http.post(f"{bare.url}{CREDENTIALS}", json={
        "name": "b", "type": "http_bearer", "data": {"token": "t"}})
    assert created.status_code == 503
    assert (await http.get(f"{bare.url}{SECRETS}")).json()["total"] == 0


# ---------------------------------------------------------------- secrets in steps

async def test_webhook_gets_the_secret_and_nothing_else_shows_it(
        worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink,
        kafka_broker: BrokerSettings) -> None:
    base, tenant = worker.url, "sec-run"
    secret = value()
    assert (await put_secret(http, base, "tok", secret, tenant)).status_code == 201
    workflow_id = await create_workflow(http, base, {
        "name": "uses a secret", "steps": [
            {"id": "call", "type": "webhook", "config": {
                "url": sink.url("/echo"), "method": "POST",
                "headers": {"Authorization": "Bearer {{secrets.tok}}",
                            "X-Signature": "sig-{{secrets.tok}}"},
                "body": {"token": "{{secrets.tok}}", "who": "{{input.name}}"}}},
            {"id": "shape", "type": "transform", "config": {"fields": {
                "echoed": "{{steps.call.body.body.token}}", "direct": "{{secrets.tok}}"}}}]},
        tenant=tenant)
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": "30"},
                               json={"input": {"name": "{{secrets.tok}}"}},
                               headers=tenant_headers(tenant))
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed", run
    run_id = run["runId"]

    seen = sink.received[-1]
    assert header(seen, "Authorization") == f"Bearer {secret}"
    assert header(seen, "X-Signature") == f"sig-{secret}"
    assert seen.body["token"] == secret
    assert seen.body["who"] == "{{secrets.tok}}"  # input text is never filled with a secret

    detail = await http.get(f"{base}/api/workflows/runs/{run_id}",
                            headers=tenant_headers(tenant))
    logs = await http.get(f"{base}/api/workflows/runs/{run_id}/logs",
                          headers=tenant_headers(tenant))
    logs_000 = await http.get(f"{base}/api/workflows/logs", params={"run_id": run_id},
                              headers=tenant_headers(tenant))
    for answer in (response, detail, logs, logs_000):
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
    step = detail.json()["stepExecutionHistory"][0]
    assert step["request"]["headers"]["X-Signature"] == f"sig-{MASK}"
    assert step["request"]["body"]["token"] == MASK
    assert step["output"]["body"]["body"]["token"] == MASK
    assert detail.json()["result"] == {"echoed": MASK, "direct": None}

    history = await from_history(http, base, run_id, tenant)
    assert history["stepExecutionHistory"][0]["request"]["body"]["token"] == MASK
    assert secret.encode() not in store_bytes(worker)
    assert MASK.encode() in store_bytes(worker)
    assert secret.encode() not in await all_topic_bytes(kafka_broker.bootstrap, worker.app_id)
    assert secret not in worker.log_path.read_text(errors="replace")


async def test_a_missing_secret_fails_the_step_clearly(
        worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink) -> None:
    base, tenant = worker.url, "sec-missing"
    workflow_id = await create_workflow(http, base, {
        "name": "missing secret", "retry": {"max_retries": 3, "backoff_seconds": 0.1},
        "steps": [{"id": "call", "type": "webhook", "config": {
            "url": sink.url("/never"), "headers": {"X-Key": "{{secrets.nope}}"}}}]},
        tenant=tenant)
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": "30"}, json={"input": {}},
                               headers=tenant_headers(tenant))
    run = response.json()
    assert run["status"] == "failed", run
    assert "secret 'nope' is not defined" in run["error"]
    steps = run["stepExecutionHistory"]
    assert len(steps) == 1 and "secret 'nope' is not defined" in steps[0]["error"]
    assert sink.counts["/never"] == 0


async def test_an_error_quoting_the_secret_is_masked(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "sec-error"
    secret = value()
    await put_secret(http, base, "k", secret, tenant)
    workflow_id = await create_workflow(http, base, {
        "name": "unreachable", "retry": {"max_retries": 0},
        "steps": [{"id": "call", "type": "webhook", "config": {
            "url": "http://127.0.0.1:9/x?key={{secrets.k}}", "timeout": 2}}]}, tenant=tenant)
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": "30"}, json={"input": {}},
                               headers=tenant_headers(tenant))
    run = response.json()
    assert run["status"] == "failed", run
    assert "127.0.0.1:9/x?key=" in run["error"] and MASK in run["error"]
    assert secret not in response.text
    assert run["stepExecutionHistory"][0]["request"]["url"] == f"http://127.0.0.1:9/x?key={MASK}"


# ---------------------------------------------------------------- rotation

def rotate(app_id: str, bootstrap: str, keys: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hopflow", "secrets", "rotate", "--app-id", app_id,
         "--bootstrap", bootstrap],
        env={**os.environ, "HOPFLOW_SECRETS_KEYS": keys}, capture_output=True, text=True,
        timeout=120, cwd=Path(__file__).resolve().parents[1])


async def test_rotation_keeps_secrets_and_credentials_readable(
        spawn_worker: Any, http: httpx.AsyncClient, sink: Sink,
        kafka_broker: BrokerSettings) -> None:
    key_b = generate_key()
    secret, token = value(), value()
    first = spawn_worker(env={"HOPFLOW_SECRETS_KEYS": KEY_A})
    assert (await put_secret(http, first.url, "tok", secret)).status_code == 201
    cred = await http.post(f"{first.url}{CREDENTIALS}", json={
        "name": "bearer", "type": "http_bearer", "data": {"token": token}})
    assert cred.status_code == 201, cred.text
    cred_id = cred.json()["id"]
    definition = {"name": "rotated", "steps": [
        {"id": "s", "type": "webhook", "config": {
            "url": sink.url("/rotated"), "headers": {"X-Secret": "{{secrets.tok}}"}}},
        {"id": "c", "type": "webhook", "config": {
            "url": sink.url("/cred"), "credential_id": cred_id}}]}
    workflow_id = await create_workflow(http, first.url, definition)
    first.stop()

    second = spawn_worker(env={"HOPFLOW_SECRETS_KEYS": f"{key_b},{KEY_A}"})
    done = rotate(first.app_id, kafka_broker.bootstrap, f"{key_b},{KEY_A}")
    assert done.returncode == 0, done.stderr
    assert "rotated 2 " in done.stdout, done.stdout
    again = rotate(first.app_id, kafka_broker.bootstrap, f"{key_b},{KEY_A}")
    assert "rotated 0 " in again.stdout and "2 already on it" in again.stdout, again.stdout
    rows = await client.read_registry(kafka_broker.bootstrap, first.app_id)
    only_b = Keyring([key_b])
    assert only_b.decrypt(rows[entry_key("secret", "default", "tok")]["body"]["ciphertext"]) \
        == secret
    second.stop()

    third = spawn_worker(env={"HOPFLOW_SECRETS_KEYS": key_b})
    run = await run_and_wait(http, third.url, workflow_id, {})
    assert run["status"] == "completed", run
    assert header(sink.received[-2], "X-Secret") == secret
    assert header(sink.received[-1], "Authorization") == f"Bearer {token}"


# ---------------------------------------------------------------- credentials

CREDENTIAL_SAMPLES: list[tuple[str | int, dict[str, Any], set[str]]] = [
    ("http_bearer", {"token": "bearer-secret-1"}, {"token"}),
    ("HttpBasic", {"username": "bot", "password": "basic-pw-1"}, {"password"}),
    (0, {"host": "smtp.example.com", "username": "bot", "password": "smtp-pw-1",
         "from_address": "bot@example.com"}, {"password"}),
    ("twilio", {"account_sid": "AC" + "0" * 32, "auth_token": "f" * 32,
                "from_number": "+14155550100"}, {"auth_token"}),
    ("s3", {"bucket": "my-bucket", "region": "us-east-1", "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "s3-secret-1"}, {"secret_access_key"}),
    ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/x", "channel": "#a"},
     {"webhook_url"}),
]


async def test_credentials_crud_masked(worker: WorkerProcess, http: httpx.AsyncClient,
                                       key_auth: KeyAuth) -> None:
    base, tenant = worker.url, "cred-crud"
    h = tenant_headers(tenant)
    made = []
    for ctype, data, secret_fields in CREDENTIAL_SAMPLES:
        response = await http.post(f"{base}{CREDENTIALS}", headers=h,
                                   json={"name": f"c {ctype}", "type": ctype, "data": data})
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "name", "type", "typeId", "data", "createdAt", "updatedAt"}
        for name in secret_fields:
            assert body["data"][name] == MASK
            assert data[name] not in response.text
        public = {k: v for k, v in data.items() if k not in secret_fields}
        assert public.items() <= body["data"].items()
        made.append(body)
    assert [m["type"] for m in made] == ["http_bearer", "http_basic", "smtp", "twilio", "s3",
                                         "slack"]
    assert made[2]["typeId"] == 0 and made[2]["data"]["port"] == 587  # a default applied

    listed = await http.get(f"{base}{CREDENTIALS}", headers=h)
    assert listed.json()["total"] == len(CREDENTIAL_SAMPLES)
    assert [c["id"] for c in listed.json()["data"]] == [m["id"] for m in made]
    for _, data, secret_fields in CREDENTIAL_SAMPLES:
        for name in secret_fields:
            assert data[name] not in listed.text
    one = await http.get(f"{base}{CREDENTIALS}/{made[1]['id']}", headers=h)
    assert one.json() == made[1]
    assert (await http.get(f"{base}{CREDENTIALS}/{made[1]['id']}",
                           headers=tenant_headers("cred-other"))).status_code == 404

    bad = await http.post(f"{base}{CREDENTIALS}", headers=h, json={
        "name": "smtp", "type": "smtp", "data": {"host": "smtp.example.com", "port": 70000,
                                                 "username": "u", "password": "p",
                                                 "from_address": "a@b.co"}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "data.port"
    unknown = await http.post(f"{base}{CREDENTIALS}", headers=h,
                              json={"name": "x", "type": "pigeon", "data": {}})
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "type"

    member = await key_auth.key(base, worker.port, tenant, role="member")
    as_member = {"x-api-key": member, "x-tenant-id": tenant}
    assert (await http.get(f"{base}{CREDENTIALS}", headers=as_member)).status_code == 200
    assert (await http.delete(f"{base}{CREDENTIALS}/{made[0]['id']}",
                              headers=as_member)).status_code == 403

    gone = await http.delete(f"{base}{CREDENTIALS}/{made[0]['id']}", headers=h)
    assert gone.status_code == 200
    assert (await http.get(f"{base}{CREDENTIALS}/{made[0]['id']}", headers=h)).status_code \
        == 404
    assert (await http.delete(f"{base}{CREDENTIALS}/{made[0]['id']}", headers=h)).status_code \
        == 404


async def test_update_keeps_stored_secrets(worker: WorkerProcess, http: httpx.AsyncClient,
                                           sink: Sink) -> None:
    base, tenant = worker.url, "cred-update"
    h = tenant_headers(tenant)
    api_key = value()
    created = (await http.post(f"{base}{CREDENTIALS}", headers=h, json={
        "name": "key", "type": "http_api_key",
        "data": {"header_name": "X-Old", "api_key": api_key}})).json()
    updated = await http.put(f"{base}{CREDENTIALS}/{created['id']}", headers=h, json={
        "name": "renamed", "data": {"header_name": "X-New", "api_key": MASK}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "renamed"
    assert updated.json()["data"] == {"header_name": "X-New", "api_key": MASK,
                                      "location": "header"}
    name_only = await http.put(f"{base}{CREDENTIALS}/{created['id']}", headers=h,
                               json={"name": "again"})
    assert name_only.json()["data"]["header_name"] == "X-New"
    assert updated.json()["createdAt"] == created["createdAt"]
    # the kept key is the one the step sends
    workflow_id = await create_workflow(http, base, {"name": "k", "steps": [
        {"id": "c", "type": "webhook", "config": {"url": sink.url("/keyed"),
                                                  "credential_id": created["id"]}}]},
        tenant=tenant)
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true"}, json={"input": {}}, headers=h)
    assert response.json()["status"] == "completed", response.text
    assert header(sink.received[-1], "X-New") == api_key
    assert api_key not in response.text
    # a new value replaces it
    newer = value()
    await http.put(f"{base}{CREDENTIALS}/{created['id']}", headers=h,
                   json={"data": {"header_name": "X-New", "api_key": newer}})
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true"}, json={"input": {}}, headers=h)
    assert header(sink.received[-1], "X-New") == newer


async def test_plan_caps_credentials(worker: WorkerProcess, http: httpx.AsyncClient,
                                     kafka_broker: BrokerSettings) -> None:
    base, tenant = worker.url, "cred-free"
    h = tenant_headers(tenant)
    assert (await http.get(f"{base}/api/tenant", headers=h)).status_code == 200  # key made
    await client.send_command(kafka_broker.bootstrap, worker.app_id, tenant,
                              "tenant.set_plan", {"plan": "free"})
    for _ in range(100):
        if (await http.get(f"{base}/api/tenant", headers=h)).json()["plan"] == "free":
            break
        await asyncio.sleep(0.1)
    body = {"name": "b", "type": "http_bearer", "data": {"token": "t"}}
    for _ in range(2):
        assert (await http.post(f"{base}{CREDENTIALS}", headers=h, json=body)).status_code \
            == 201
    third = await http.post(f"{base}{CREDENTIALS}", headers=h, json=body)
    assert third.status_code == 400
    assert "free allows at most 2 credentials" in third.json()["error"]["message"]
    assert (await http.get(f"{base}{CREDENTIALS}", headers=h)).json()["total"] == 2


async def test_v4_alias_shape(worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "cred-v4"
    h = tenant_headers(tenant)
    token = value()
    created = await http.post(f"{base}{V4}", headers=h, json={
        "Name": "Bearer", "CredentialType": 5, "Data": {"Token": token}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["CredentialType"] == 5 and body["CredentialTypeName"] == "HttpBearer"
    assert body["Name"] == "Bearer" and body["Data"] == {"Token": MASK}
    assert {"WorkflowCredentialId", "CreatedOn", "UpdatedOn"} <= set(body)
    cred_id = body["WorkflowCredentialId"]
    listed = await http.get(f"{base}{V4}", headers=h)
    assert isinstance(listed.json(), list) and listed.json()[0]["WorkflowCredentialId"] == cred_id
    canonical = (await http.get(f"{base}{CREDENTIALS}/{cred_id}", headers=h)).json()
    assert canonical["type"] == "http_bearer" and canonical["data"] == {"token": MASK}
    updated = await http.put(f"{base}{V4}/{cred_id}", headers=h, json={"Name": "Renamed"})
    assert updated.status_code == 200 and updated.json()["Name"] == "Renamed"
    assert (await http.get(f"{base}{V4}/{cred_id}", headers=h)).json()["Name"] == "Renamed"
    basic = await http.post(f"{base}{V4}", headers=h, json={
        "Name": "Basic", "CredentialType": 6, "Data": {"Username": "bot"}})
    assert basic.status_code == 400 and basic.json()["error"]["field"] == "Data.Password"
    no_name = await http.post(f"{base}{V4}", headers=h, json={"CredentialType": 5,
                                                              "Data": {"Token": "x"}})
    assert no_name.status_code == 400 and no_name.json()["error"]["field"] == "Name"
    deleted = await http.delete(f"{base}{V4}/{cred_id}", headers=h)
    assert deleted.status_code == 200
    assert (await http.get(f"{base}{V4}/{cred_id}", headers=h)).status_code == 404
    assert token not in created.text + listed.text + updated.text


async def test_step_with_bearer_credential_then_deleted(
        worker: WorkerProcess, http: httpx.AsyncClient, sink: Sink) -> None:
    base, tenant = worker.url, "cred-step"
    h = tenant_headers(tenant)
    token = value()
    cred_id = (await http.post(f"{base}{CREDENTIALS}", headers=h, json={
        "name": "bearer", "type": "http_bearer", "data": {"token": token}})).json()["id"]
    bad = await http.post(f"{base}/api/workflows", headers=h, json={"name": "bad", "steps": [
        {"id": "c", "type": "webhook", "config": {"url": sink.url("/x"), "credential_id": 5}}]})
    assert bad.status_code == 400 and "credential_id" in bad.text
    workflow_id = await create_workflow(http, base, {
        "name": "bearer", "retry": {"max_retries": 2, "backoff_seconds": 0.1}, "steps": [
            {"id": "c", "type": "webhook", "config": {
                "url": sink.url("/bearer"), "credential_id": cred_id,
                "body": {"echo": "leak"}}}]}, tenant=tenant)
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true"}, json={"input": {}}, headers=h)
    run = response.json()
    assert run["status"] == "completed", run
    assert header(sink.received[-1], "Authorization") == f"Bearer {token}"
    assert token not in response.text
    assert run["stepExecutionHistory"][0]["request"]["auth"] == "http_bearer"

    assert (await http.delete(f"{base}{CREDENTIALS}/{cred_id}", headers=h)).status_code == 200
    calls = sink.counts["/bearer"]
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true"}, json={"input": {}}, headers=h)
    run = response.json()
    assert run["status"] == "failed", run
    assert f"credential '{cred_id}' not found (deleted?)" in run["error"]
    assert len(run["stepExecutionHistory"]) == 1  # not retried: it cannot come back
    assert sink.counts["/bearer"] == calls
    detail = (await http.get(f"{base}/api/workflows/runs/{run['runId']}",
                             headers=h)).json()
    assert "not found (deleted?)" in detail["stepExecutionHistory"][0]["error"]
    assert token not in worker.log_path.read_text(errors="replace")
