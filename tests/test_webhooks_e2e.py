"""Outbound webhooks end to end: real broker, a real worker, a receiver on 127.0.0.1.

The receiver checks each delivery's Standard Webhooks signature with the secret
the create call showed (once); a short backoff and a small disable threshold
(worker settings) keep the retry and disable cases quick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from dev.workers import WorkerProcess
from schemas.run_events import parse_time
from streams.keyring import generate_key
from streams.webhooks import signing
from tests.conftest import fresh_app_id
from tests.kafka_fixture import BrokerSettings
from tests.webhook_peer import Receiver

HOOKS = "/api/webhooks"


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("webhooks"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("hooks"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key(),
                              "HOPFLOW_WEBHOOK_BACKOFF_SECONDS": "0.5",
                              "HOPFLOW_WEBHOOK_DISABLE_AFTER": "3"})
    proc.start()
    yield proc
    proc.stop()


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    return signing.verify(secret, headers["webhook-id"], headers["webhook-timestamp"], body,
                          headers["webhook-signature"])


async def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true after {timeout}s")


async def endpoint(http: httpx.AsyncClient, base: str, tenant: str, url: str,
                   types: list[str]) -> dict[str, Any]:
    r = await http.post(base + HOOKS, json={"url": url, "eventTypes": types},
                        headers={"x-tenant-id": tenant})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def run(http: httpx.AsyncClient, base: str, tenant: str, definition: dict[str, Any]
              ) -> dict[str, Any]:
    headers = {"x-tenant-id": tenant}
    r = await http.post(base + "/api/workflows", json=definition, headers=headers)
    assert r.status_code == 201, r.text
    r = await http.post(f"{base}/api/workflows/{r.json()['id']}/run",
                        params={"wait": "true", "timeout": "30"}, json={"input": {"x": 1}},
                        headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


OK_FLOW = {"name": "ok", "steps": [{"id": "t", "type": "transform",
                                    "config": {"fields": {"v": "{{input.x}}"}}}]}


def failing_flow(receiver: Receiver) -> dict[str, Any]:
    return {"name": "bad", "retry": {"max_retries": 0}, "steps": [
        {"id": "call", "type": "webhook", "config": {"url": receiver.url("/gone"),
                                                    "method": "POST"}}]}


async def test_crud_secret_once_and_signed_completed_and_failed(
        worker: WorkerProcess, receiver: Receiver, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "hooks-a"
    headers = {"x-tenant-id": tenant}
    receiver.always["/gone"] = 404
    done = await endpoint(http, base, tenant, receiver.url("/done"), ["run.completed"])
    fails = await endpoint(http, base, tenant, receiver.url("/fails"), ["run.failed"])
    secret = done["secret"]
    assert secret.startswith("whsec_") and done["secretSet"] is True
    # shown once: never again in a read, a list or an update
    shown = await http.get(f"{base}{HOOKS}/{done['id']}", headers=headers)
    listed = await http.get(base + HOOKS, headers=headers)
    updated = await http.put(f"{base}{HOOKS}/{done['id']}", json={"enabled": True},
                             headers=headers)
    for r in (shown, listed, updated):
        assert r.status_code == 200, r.text
        assert "secret" not in orjson.loads(r.content).get("data", [r.json()])[0]
        assert secret not in r.text and fails["secret"] not in r.text
    assert listed.json()["total"] == 2

    completed = await run(http, base, tenant, OK_FLOW)
    assert completed["status"] == "completed"
    (hdrs, body), = await until(lambda: _got(receiver, "/done"))
    assert verified(secret, hdrs, body)
    assert not verified(fails["secret"], hdrs, body)
    event = orjson.loads(body)
    assert event["type"] == "run.completed" and event["subject"] == completed["runId"]
    assert hdrs["webhook-id"] == event["id"]

    failed = await run(http, base, tenant, failing_flow(receiver))
    assert failed["status"] == "failed"
    (hdrs, body), = await until(lambda: _got(receiver, "/fails"))
    assert verified(fails["secret"], hdrs, body)
    assert orjson.loads(body)["type"] == "run.failed"
    assert orjson.loads(body)["subject"] == failed["runId"]
    await asyncio.sleep(1.0)  # the completed-only endpoint never gets the failure
    assert len(receiver.received("/done")) == 1
    assert len(receiver.received("/fails")) == 1

    rotated = await http.post(f"{base}{HOOKS}/{done['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200 and rotated.json()["secret"] != secret
    gone = await http.delete(f"{base}{HOOKS}/{fails['id']}", headers=headers)
    assert gone.status_code == 200
    log = worker.log_path.read_text(errors="replace")
    assert secret not in log and fails["secret"] not in log
    assert rotated.json()["secret"] not in log


async def _got(receiver: Receiver, path: str) -> list[tuple[dict[str, str], bytes]]:
    return receiver.received(path)


async def test_bad_input_names_the_field(worker: WorkerProcess, http: httpx.AsyncClient
                                         ) -> None:
    headers = {"x-tenant-id": "hooks-bad"}
    for body, field in (({"url": "ftp://x.example", "eventTypes": ["*"]}, "url"),
                        ({"url": "http://example.com/h", "eventTypes": ["*"]}, "url"),
                        ({"url": "https://10.0.0.1/h", "eventTypes": ["*"]}, "url"),
                        ({"url": "https://example.com/h", "eventTypes": []}, "eventTypes"),
                        ({"url": "https://example.com/h", "eventTypes": ["run.nope"]},
                         "eventTypes")):
        r = await http.post(worker.url + HOOKS, json=body, headers=headers)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, r.text
    r = await http.get(f"{worker.url}{HOOKS}/wh_missing/deliveries", headers=headers)
    assert r.status_code == 404


async def test_retry_after_500_then_200_shows_both_attempts(
        worker: WorkerProcess, receiver: Receiver, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "hooks-b"
    receiver.script["/flaky"] = [500]
    hook = await endpoint(http, base, tenant, receiver.url("/flaky"), ["*"])
    await run(http, base, tenant, OK_FLOW)
    await until(lambda: _got_n(receiver, "/flaky", 2))
    first, second = receiver.received("/flaky")[:2]
    assert first[0]["webhook-id"] == second[0]["webhook-id"]  # the same event, retried
    assert verified(hook["secret"], *second)

    async def delivered() -> dict[str, Any] | None:
        r = await http.get(f"{base}{HOOKS}/{hook['id']}/deliveries",
                           headers={"x-tenant-id": tenant})
        assert r.status_code == 200, r.text
        rows = r.json()["data"]
        return rows[0] if rows and rows[0]["status"] == "delivered" else None

    row = await until(delivered)
    assert row["attempts"] == 2 and row["lastStatus"] == 200
    assert [a["status"] for a in row["attemptLog"]] == [500, 200]
    assert row["attemptLog"][0]["nextAttemptAt"] is not None
    assert row["eventId"] == first[0]["webhook-id"]


async def _got_n(receiver: Receiver, path: str, n: int) -> bool:
    return len(receiver.received(path)) >= n


async def test_an_endpoint_that_keeps_failing_is_disabled_with_the_reason(
        worker: WorkerProcess, receiver: Receiver, http: httpx.AsyncClient) -> None:
    base, tenant = worker.url, "hooks-c"
    headers = {"x-tenant-id": tenant}
    receiver.always["/down"] = 500
    hook = await endpoint(http, base, tenant, receiver.url("/down"), ["run.completed"])
    await run(http, base, tenant, OK_FLOW)

    async def disabled() -> dict[str, Any] | None:
        r = await http.get(f"{base}{HOOKS}/{hook['id']}", headers=headers)
        return r.json() if not r.json()["enabled"] else None

    shown = await until(disabled)
    assert "3 consecutive failed attempts" in shown["disabledReason"]
    assert "HTTP 500" in shown["disabledReason"]
    count = len(receiver.received("/down"))
    assert count >= 3
    await run(http, base, tenant, OK_FLOW)  # a disabled endpoint gets nothing more
    await asyncio.sleep(1.5)
    assert len(receiver.received("/down")) == count
    r = await http.get(f"{base}{HOOKS}/{hook['id']}/deliveries", headers=headers)
    assert r.json()["data"][0]["status"] == "failed"
    # enabling again clears the reason
    r = await http.put(f"{base}{HOOKS}/{hook['id']}", json={"enabled": True}, headers=headers)
    assert r.json()["enabled"] is True and r.json()["disabledReason"] is None


async def test_a_waiting_retry_survives_a_worker_restart(
        spawn_worker: Any, receiver: Receiver, http: httpx.AsyncClient) -> None:
    """The retry is a row of the store: a worker stopped while it waits sends it after."""
    proc: WorkerProcess = spawn_worker(env={"HOPFLOW_SECRETS_KEYS": generate_key(),
                                            "HOPFLOW_WEBHOOK_BACKOFF_SECONDS": "3"})
    tenant = "hooks-d"
    receiver.script["/later"] = [503]
    receiver.retry_after["/later"] = "10"  # honoured: longer than the 3 s backoff
    hook = await endpoint(http, proc.url, tenant, receiver.url("/later"), ["run.completed"])
    await run(http, proc.url, tenant, OK_FLOW)
    await until(lambda: _got_n(receiver, "/later", 1))
    proc.stop()
    assert len(receiver.received("/later")) == 1  # stopped before the retry was due
    proc.start()
    await until(lambda: _got_n(receiver, "/later", 2), timeout=60.0)
    first, second = receiver.received("/later")[:2]
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    assert verified(hook["secret"], *second)
    r = await http.get(f"{proc.url}{HOOKS}/{hook['id']}/deliveries",
                       headers={"x-tenant-id": tenant})
    row = r.json()["data"][0]
    assert [a["status"] for a in row["attemptLog"]][:2] == [503, 200]
    log = row["attemptLog"]
    waited = _ms(log[1]["at"]) - _ms(log[0]["at"])
    assert waited >= 9_000, log  # the peer's Retry-After, not the 3 s backoff


def _ms(text: str) -> int:
    return parse_time(text)


async def test_an_empty_body_names_the_url(worker: WorkerProcess, http: httpx.AsyncClient
                                           ) -> None:
    r = await http.post(worker.url + HOOKS, json={}, headers={"x-tenant-id": "hooks-e"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "url", r.text
