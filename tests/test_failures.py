"""Failure classification, Retry-After, and the retry policy: helpers, machine, steps."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import orjson
import pytest
from aiohttp import web

from schemas import codec, run_events
from steps import webhook
from steps.base import ExecContext, StepFailed
from steps.errors import (
    PERMANENT,
    TRANSIENT,
    classify_http_status,
    parse_retry_after,
    request_failure,
)
from steps.graph import RETRY_AFTER_CAP_SECONDS, InvalidDefinition, RetryPolicy, validate_workflow
from steps.http import BlockedURL, ResponseTooLarge
from steps.templates import MAX_RENDERED_CHARS
from streams import machine
from tests.test_machine import CALL, request, timer

DISPATCH = codec("step_dispatch")


# ---------------------------------------------------------------- Retry-After and classes

def test_retry_after_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after(" 120 ", now) == 120.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0.0  # past: now
    for junk in (None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2015"):
        assert parse_retry_after(junk, now) is None, junk


@pytest.mark.parametrize(("status", "expected"), [
    (400, PERMANENT), (401, PERMANENT), (403, PERMANENT), (404, PERMANENT), (409, PERMANENT),
    (422, PERMANENT), (408, TRANSIENT), (425, TRANSIENT), (429, TRANSIENT), (500, TRANSIENT),
    (502, TRANSIENT), (503, TRANSIENT), (504, TRANSIENT), (501, PERMANENT), (505, PERMANENT)])
def test_http_status_classes(status: int, expected: str) -> None:
    verdict = classify_http_status(status, {})
    assert verdict.error_class == expected
    assert verdict.retryable is (expected == TRANSIENT)


def test_retry_after_is_read_for_429_and_503_only() -> None:
    headers = httpx.Headers({"Retry-After": "7"})
    assert classify_http_status(429, headers).retry_after == 7.0
    assert classify_http_status(503, headers).retry_after == 7.0
    assert classify_http_status(500, headers).retry_after is None
    assert classify_http_status(400, headers).retry_after is None


def test_exchange_failures_are_classified() -> None:
    assert request_failure("x", BlockedURL("private")).error_class == PERMANENT
    assert request_failure("x", ResponseTooLarge("big")).error_class == PERMANENT
    assert request_failure("x", httpx.ConnectTimeout("t")).error_class == TRANSIENT
    assert request_failure("x", httpx.ConnectError("refused")).error_class == TRANSIENT


# ---------------------------------------------------------------- the policy

def test_wait_is_the_longer_of_backoff_and_retry_after_capped() -> None:
    policy = RetryPolicy(max_retries=3, backoff_seconds=1, max_backoff_seconds=300)
    assert policy.wait(1) == 1 and policy.wait(3) == 4
    assert policy.wait(1, 2.5) == 2.5
    assert policy.wait(3, 2.5) == 4  # the backoff is already longer
    assert policy.wait(1, 10 * 86400) == RETRY_AFTER_CAP_SECONDS


def test_max_retries_over_five_is_refused_naming_the_field() -> None:
    validate_workflow({"name": "x", "steps": [CALL], "retry": {"max_retries": 5}})
    with pytest.raises(InvalidDefinition) as caught:
        validate_workflow({"name": "x", "steps": [CALL], "retry": {"max_retries": 6}})
    assert [i.field for i in caught.value.issues] == ["retry.max_retries"]


# ---------------------------------------------------------------- the machine

def failed(attempt: int, retryable: bool, retry_after_ms: int | None = None,
           credits: int = 0) -> dict:
    return {"id": f"fin:1:{attempt}", "run_id": "r1", "tenant": "t", "ts_ms": 0,
            "kind": "step_finished", "request": None, "timer_token": None, "reason": None,
            "finished": {"seq": 1, "step_id": "call", "attempt": attempt, "ok": False,
                         "retryable": retryable, "error": "HTTP 429", "output": None,
                         "request": None, "started_ms": 1, "ended_ms": 2,
                         "retry_after_ms": retry_after_ms, "credits": credits}}


def events(effects: machine.Effects) -> list[dict]:
    return [run_events.decode(raw) for raw in effects.events]


def test_retry_after_delays_the_retry_and_events_carry_the_class() -> None:
    definition = {"steps": [CALL], "retry": {"max_retries": 2, "backoff_seconds": 1}}
    state, _ = machine.apply(None, request(definition), now=0)
    state, effects = machine.apply(state, failed(1, True, retry_after_ms=5000), now=100)
    assert state["status"] == "retrying"
    assert effects.set_timer["due_ms"] == 100 + 5000  # not the 1 s backoff
    step, retrying = events(effects)
    assert step["type"] == "step.failed" and step["data"]["errorClass"] == TRANSIENT
    assert step["data"]["willRetry"] is True and step["data"]["credits"] == 0
    assert retrying["type"] == "run.retrying" and retrying["data"]["retryAfterMs"] == 5000
    assert state["history"][0]["error_class"] == TRANSIENT
    state, effects = machine.apply(state, timer(effects.set_timer["token"]), now=5100)
    assert DISPATCH.decode(effects.dispatch)["attempt"] == 2
    state, effects = machine.apply(state, failed(2, False), now=5200)
    assert state["status"] == "failed"  # permanent: no third attempt despite the budget
    assert events(effects)[0]["data"]["errorClass"] == PERMANENT
    assert [h["error_class"] for h in state["history"]] == [TRANSIENT, PERMANENT]


def test_a_permanent_failure_never_retries() -> None:
    definition = {"steps": [CALL], "retry": {"max_retries": 5, "backoff_seconds": 1}}
    state, _ = machine.apply(None, request(definition), now=0)
    state, effects = machine.apply(state, failed(1, False, retry_after_ms=1000), now=1)
    assert state["status"] == "failed" and effects.set_timer is None
    assert len(state["history"]) == 1


def test_a_pure_step_error_is_permanent() -> None:
    too_long = {"id": "t", "type": "transform", "config": {"fields": {"s": "x{{input.big}}"}}}
    big = "y" * (MAX_RENDERED_CHARS + 1)
    state, effects = machine.apply(None, request({"steps": [too_long]}, {"big": big}), now=0)
    assert state["status"] == "failed"
    step = next(e for e in events(effects) if e["type"] == "step.failed")
    assert step["data"]["errorClass"] == PERMANENT and step["data"]["retryable"] is False


def test_completed_io_step_event_carries_credits() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL]}), now=0)
    done = {**failed(1, False), "id": "fin:1:1"}
    done["finished"] = {**done["finished"], "ok": True, "error": None,
                        "output": orjson.dumps({"valid": True}).decode(), "credits": 1}
    state, effects = machine.apply(state, done, now=5)
    step = events(effects)[0]
    assert step["type"] == "step.completed" and step["data"]["credits"] == 1
    assert "errorClass" not in step["data"]


# ---------------------------------------------------------------- the webhook step

@pytest.fixture
async def peer():  # type: ignore[no-untyped-def]
    """An HTTP peer whose answer each test sets: (status, headers)."""
    answer: dict = {"status": 200, "headers": {}}

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"ok": answer["status"] < 400}, status=answer["status"],
                                 headers=answer["headers"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", answer
    await runner.cleanup()


CTX = ExecContext("r", "t", "s", 1)


@pytest.mark.parametrize(("status", "headers", "expected", "after"), [
    (429, {"Retry-After": "2"}, TRANSIENT, 2.0),
    (503, {"Retry-After": "in 60 s"}, TRANSIENT, 60.0),  # an HTTP date, made when the test runs
    (500, {}, TRANSIENT, None),
    (404, {}, PERMANENT, None),
    (401, {"Retry-After": "2"}, PERMANENT, None)])
async def test_webhook_classifies_answers(peer, status, headers, expected, after) -> None:  # type: ignore[no-untyped-def]
    url, answer = peer
    if headers.get("Retry-After") == "in 60 s":  # at collection it would be stale by now
        headers = {"Retry-After": formatdate(time.time() + 60, usegmt=True)}
    answer.update(status=status, headers=headers)
    with pytest.raises(StepFailed) as caught:
        await webhook.execute({"url": url, "method": "POST"}, CTX)
    assert caught.value.error_class == expected
    if after is None:
        assert caught.value.retry_after is None
    else:
        assert caught.value.retry_after == pytest.approx(after, abs=2)
    assert caught.value.output["status"] == status


async def test_webhook_refused_url_is_permanent() -> None:
    with pytest.raises(StepFailed) as caught:
        await webhook.execute({"url": "https://169.254.169.254/latest/meta-data"}, CTX)
    assert caught.value.error_class == PERMANENT and "169.254.169.254" in str(caught.value)


async def test_webhook_connection_refused_is_transient() -> None:
    with pytest.raises(StepFailed) as caught:
        await webhook.execute({"url": "http://127.0.0.1:1/x", "timeout": 2}, CTX)
    assert caught.value.error_class == TRANSIENT


def test_retry_after_from_a_hostile_peer_is_clamped_and_never_raises() -> None:
    """A peer controls Retry-After: a 30-digit number once overflowed the step result's
    Avro long (the executor could not send it), and "²" or 5000 digits raised."""
    from schemas import codec
    from steps.errors import MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("9" * 30) == MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("9" * 5000) == MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("\u00b2") is None
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER_SECONDS
    fin = {"seq": 1, "step_id": "a", "attempt": 1, "ok": False, "retryable": True,
           "output": None, "error": "x", "request": None, "started_ms": 1, "ended_ms": 2,
           "retry_after_ms": int(parse_retry_after("9" * 30) * 1000), "credits": 0}
    codec("run_command").encode({"id": "f", "run_id": "r", "tenant": "t", "ts_ms": 0,
                                 "kind": "step_finished", "request": None, "finished": fin,
                                 "timer_token": None, "reason": None})
