"""Webhook ingest end to end: a real broker, a real worker, real HTTP and Kafka producers.

Proves: the token is made once and shown once, rotation kills the old URL,
JSON, form and raw bodies become the run's input, the body cap holds, a signed
workflow refuses bad or stale signatures without starting anything, a
repeated webhook-id names one run, and the `ingest` topic starts runs the same
way while bad records land in dead-letters with their reason.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from schemas import codec
from streams.keyring import generate_key
from streams.triggers import signatures
from tests.conftest import fresh_app_id
from tests.helpers import create_workflow, wait_status

ECHO = {"name": "echo", "steps": [{"id": "a", "type": "transform",
                                   "config": {"fields": {"seen": "{{input}}"}}}]}
DONE = {"completed"}


@pytest.fixture(scope="module")
def worker(kafka_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app_id=fresh_app_id("ingest"), bootstrap=kafka_broker.bootstrap,
                         home=tmp_path_factory.mktemp("ingest"),
                         env={"HOPFLOW_SECRETS_KEYS": generate_key()})
    proc.start()
    yield proc
    proc.stop()


async def token_of(http: httpx.AsyncClient, base: str, wf: str, *, method: str = "GET",
                   body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await http.request(method, f"{base}/api/workflows/{wf}/webhook-token",
                                  json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def public_post(url: str, **kwargs: Any) -> httpx.Response:
    """No API key, no tenant header: the ingest URL is all a sender has."""
    async with httpx.AsyncClient(timeout=30) as plain:
        return await plain.post(url, **kwargs)


async def run_input(http: httpx.AsyncClient, base: str, run_id: str) -> dict[str, Any]:
    run = await wait_status(http, base, run_id, DONE)
    assert run["trigger"] in ("webhook", "ingest_topic")
    return run["input"]  # type: ignore[no-any-return]


async def test_token_is_made_once_shown_once_and_rotated(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, ECHO)
    first = await token_of(http, base, wf)
    assert first["created"] and first["token"].startswith("whk_")
    assert first["url"] == f"{base}/api/workflows/ingest/{first['token']}"
    again = await token_of(http, base, wf)
    assert not again["created"] and again["token"] is None and again["url"] is None
    assert again["tokenId"] == first["tokenId"]
    assert again["maskedToken"] == first["maskedToken"] != first["token"]
    assert first["token"] not in orjson.dumps(again).decode()

    sent = await public_post(first["url"], json={"order": 1})
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "pending"
    assert await run_input(http, base, sent.json()["runId"]) == {"order": 1}

    rotated = await token_of(http, base, wf, method="POST")
    assert rotated["created"] and rotated["token"] != first["token"]
    old = await public_post(first["url"], json={"order": 2})
    unknown = await public_post(f"{base}/api/workflows/ingest/whk_never_issued", json={})
    assert old.status_code == unknown.status_code == 404
    assert old.json() == unknown.json()
    assert (await public_post(rotated["url"], json={"order": 3})).status_code == 202

    missing = await http.get(f"{base}/api/workflows/nope/webhook-token")
    assert missing.status_code == 404


async def test_json_form_and_raw_bodies_become_inputs(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, ECHO)
    url = (await token_of(http, base, wf))["url"]
    cases = [
        ({"json": {"a": {"b": [1, 2]}}}, {"a": {"b": [1, 2]}}),
        ({"data": {"name": "Ada", "tag": "x"}}, {"name": "Ada", "tag": "x"}),
        ({"content": b"<lead id='7'/>", "headers": {"content-type": "application/xml"}},
         {"body": "<lead id='7'/>", "contentType": "application/xml"}),
    ]
    for kwargs, expected in cases:
        sent = await public_post(url, **kwargs)
        assert sent.status_code == 202, sent.text
        assert await run_input(http, base, sent.json()["runId"]) == expected
    bad = await public_post(url, content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "body"
    big = await public_post(url, content=b"x" * (1024 * 1024 + 1),
                            headers={"content-type": "text/plain"})
    assert big.status_code == 413


async def test_signed_workflow_accepts_good_and_refuses_bad_signatures(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, ECHO)
    made = await token_of(http, base, wf, method="POST", body={"verify": True})
    secret, url = made["signingSecret"], made["url"]
    assert made["verify"] and secret.startswith("whsec_")
    assert "signingSecret" not in await token_of(http, base, wf)

    def headers(body: bytes, msg_id: str, at: int | None = None,
                key: str | None = None) -> dict[str, str]:
        stamp = int(time.time()) if at is None else at
        return {"content-type": "application/json", "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": signatures.sign(key or secret, msg_id, stamp, body)}

    body = b'{"amount": 5}'
    msg = f"msg_{uuid.uuid4().hex}"
    refusals = [
        await public_post(url, content=body, headers=headers(body, msg,
                                                              key=signatures.new_secret())),
        await public_post(url, content=body, headers=headers(body, msg,
                                                              at=int(time.time()) - 600)),
        await public_post(url, content=b'{"amount": 500}', headers=headers(body, msg)),
        await public_post(url, json={"amount": 5}),  # unsigned
    ]
    assert [r.status_code for r in refusals] == [401, 401, 401, 401]
    good = await public_post(url, content=body, headers=headers(body, msg))
    assert good.status_code == 202, good.text
    repeat = await public_post(url, content=body, headers=headers(body, msg))
    assert repeat.json()["runId"] == good.json()["runId"]
    assert await run_input(http, base, good.json()["runId"]) == {"amount": 5}
    runs = await listed_runs(http, base, wf, expect=1)
    assert runs == [good.json()["runId"]]  # the refused ones started nothing


async def listed_runs(http: httpx.AsyncClient, base: str, wf: str, expect: int
                      ) -> list[str]:
    """The workflow's runs in the history store, once at least `expect` arrived (+ a beat)."""
    found: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await http.get(f"{base}/api/workflows/runs", params={"workflow_id": wf})
        if response.status_code == 200:
            found = [r["runId"] for r in response.json()["data"]]
            if len(found) >= expect:
                await asyncio.sleep(1.0)  # room for a run that should not exist to show up
                response = await http.get(f"{base}/api/workflows/runs",
                                          params={"workflow_id": wf})
                return [r["runId"] for r in response.json()["data"]]
        await asyncio.sleep(0.2)
    return found


async def test_duplicate_webhook_id_unsigned_names_one_run(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, ECHO)
    url = (await token_of(http, base, wf))["url"]
    ids = set()
    for _ in range(3):
        sent = await public_post(url, json={"x": 1}, headers={"webhook-id": "dup-1"})
        assert sent.status_code == 202
        ids.add(sent.json()["runId"])
    assert len(ids) == 1
    await run_input(http, base, ids.pop())
    assert len(await listed_runs(http, base, wf, expect=1)) == 1


async def dead_letters(worker: WorkerProcess, want: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(f"{worker.app_id}.dead-letters",
                                bootstrap_servers=worker.bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    letters: list[dict[str, Any]] = []
    try:
        for _ in range(60):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                letters += [codec("dead_letter").decode(r.value) for r in records]
            if len(letters) >= want:
                break
    finally:
        await consumer.stop()
    return letters


async def test_ingest_topic_starts_runs_and_dead_letters_bad_records(
        worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = worker.url
    wf = await create_workflow(http, base, ECHO)
    token = (await token_of(http, base, wf))["token"]
    signed_wf = await create_workflow(http, base, ECHO)
    secret = (await token_of(http, base, signed_wf, method="POST",
                             body={"verify": True}))["signingSecret"]
    topic = f"{worker.app_id}.ingest"
    body = '{"via": "signed"}'
    stamp = int(time.time())
    good_sig = signatures.sign(secret, "k-sig", stamp, body.encode())
    producer = AIOKafkaProducer(bootstrap_servers=worker.bootstrap)
    await producer.start()
    try:
        for key, value in [
            (token, {"body": {"via": "token"}, "headers": {"webhook-id": "k-1"}}),
            (token, {"body": {"via": "token"}, "headers": {"webhook-id": "k-1"}}),  # again
            (f"default/{wf}", {"body": "a=1&b=2", "headers": {
                "content-type": "application/x-www-form-urlencoded"}}),
            (f"default/{signed_wf}", {"body": body, "headers": {
                "content-type": "application/json", "webhook-id": "k-sig",
                "webhook-timestamp": str(stamp), "webhook-signature": good_sig}}),
        ]:
            await producer.send_and_wait(topic, orjson.dumps(value), key=key.encode())
        bad = [(b"whk_unknown", b'{"body": {}}', "unknown ingest token"),
               (token.encode(), b"not json", "not JSON"),
               (f"default/{signed_wf}".encode(), orjson.dumps({"body": body, "headers": {
                   "webhook-id": "k-bad", "webhook-timestamp": str(stamp),
                   "webhook-signature": "v1,AAAA"}}), "(401)")]
        for key_bytes, raw, _ in bad:
            await producer.send_and_wait(topic, raw, key=key_bytes)
    finally:
        await producer.stop()

    inputs = [await run_input(http, base, r) for r in await listed_runs(http, base, wf, 2)]
    assert sorted(orjson.dumps(i).decode() for i in inputs) == \
        ['{"a":"1","b":"2"}', '{"via":"token"}']  # the repeated k-1 record: one run
    signed_runs = await listed_runs(http, base, signed_wf, 1)
    assert [await run_input(http, base, r) for r in signed_runs] == [{"via": "signed"}]

    letters = await dead_letters(worker, len(bad))
    for key_bytes, raw, reason in bad:
        match = [x for x in letters if x["key"] == key_bytes and x["value"] == raw]
        assert match and reason in match[0]["reason"], (reason, letters)
    assert all(x["topic"] == topic for x in letters)
