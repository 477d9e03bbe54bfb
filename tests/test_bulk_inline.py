"""Inline bulk lookups, without a broker: request validation, SSE framing, the runner, usage.

The e2e side (a real worker, SSE over httpx, a provider peer, disconnects) is
tests/test_bulk_inline_e2e.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from api import bulk_inline
from api.bulk_inline import KEEPALIVE, parse_items, sse, wants_events
from api.errors import ApiError
from dev.workers import free_port
from history import open_database, queries
from history.projection import utc_day
from schemas import run_events as ev
from streams.inline_bulk import KINDS, InlineBulk, NoProvider
from streams.webhooks.signing import SUBSCRIBABLE
from tests.test_history_store import NOW, project

EMAILS = next(k for k in KINDS if k.path == "/api/bulk-lookup")
PHONES = next(k for k in KINDS if k.path == "/api/bulk-phone-lookup")
COMPANY = next(k for k in KINDS if k.path == "/api/bulk-company-search")
IPS = next(k for k in KINDS if k.path == "/api/bulk-ip-search")


def refused(body: Any, kind: Any = EMAILS) -> tuple[int, str | None]:
    with pytest.raises(ApiError) as caught:
        parse_items(body, kind)
    return caught.value.status, caught.value.field


def test_request_validation_names_the_field() -> None:
    assert parse_items({"emails": ["a@b.co"]}, EMAILS) == (["a@b.co"], {})
    assert refused([]) == (400, "body")
    assert refused({}) == (400, "emails")
    assert refused({"emails": "a@b.co"}) == (400, "emails")
    assert refused({"emails": []}) == (400, "emails")
    assert refused({"emails": ["a@b.co", 3]}) == (400, "emails[1]")
    assert refused({"queries": ["a@b.co"]}) == (400, "emails")  # not this route's field
    assert refused({"queries": ["1.1.1.1"] * 101}, IPS) == (413, "queries")
    assert parse_items({"queries": ["1.1.1.1"] * 100}, IPS)[0] == ["1.1.1.1"] * 100
    assert refused({"emails": ["x"] * 1001}) == (413, "emails")
    with pytest.raises(ApiError) as caught:
        parse_items({"emails": ["x"] * 1001}, EMAILS)
    assert "1000" in caught.value.message


def test_phones_take_phones_or_queries_and_a_region() -> None:
    assert parse_items({"phones": ["+1 650 253 0000"]}, PHONES)[0] == ["+1 650 253 0000"]
    assert parse_items({"queries": ["650 253 0000"], "default_region": "us"}, PHONES) == (
        ["650 253 0000"], {"default_region": "us"})
    assert refused({"phones": ["1"] * 1001}, PHONES) == (413, "phones")
    assert refused({"phones": ["1"], "default_region": "XX"}, PHONES) == (400, "default_region")


def test_accept_header_picks_the_stream() -> None:
    assert wants_events("text/event-stream")
    assert wants_events("application/json, Text/Event-Stream;q=0.5")
    assert not wants_events("text/event-stream;q=0")
    assert not wants_events("*/*") and not wants_events(None) and not wants_events("")


def test_sse_framing() -> None:
    frame = sse("result", {"index": 0, "input": "a\nb", "ok": True})
    assert frame == b'event: result\ndata: {"index":0,"input":"a\\nb","ok":true}\n\n'
    assert frame.count(b"\n") == 3  # one data line, whatever the values hold
    assert KEEPALIVE.startswith(b":") and KEEPALIVE.endswith(b"\n\n")  # a comment


class _Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, *, key: str, value: bytes) -> None:
        self.sent.append((key, value))


class _Settings:
    def provider(self, name: str) -> None:
        return None


class _Engine:
    """What the runner uses of the engine: settings' providers and the run-events topic."""

    def __init__(self) -> None:
        self.settings = _Settings()
        self.run_events = _Topic()


async def test_runner_runs_in_order_and_records_one_usage_event() -> None:
    engine = _Engine()
    emails = ["a@example.com", "nope", "b@example.org"]
    bulk = InlineBulk(engine, "t1", EMAILS, emails)  # type: ignore[arg-type]
    bulk.start()
    seen = [await bulk.next(5) for _ in range(3)]
    assert [r.index for r in seen if r] == [0, 1, 2]  # offline: one at a time, in order
    assert [(r.ok, r.credits) for r in seen if r] == [(True, 1), (False, 0), (True, 1)]
    assert seen[1] and seen[1].error and seen[1].output["valid"] is False
    await bulk.close()
    await bulk.close()  # once
    assert bulk.summary() == {"total": 3, "succeeded": 2, "failed": 1, "credits": 2,
                              "cancelled": False}
    assert len(engine.run_events.sent) == 1
    event = ev.decode(engine.run_events.sent[0][1])
    assert event["type"] == ev.USAGE_RECORDED and event["tenant"] == "t1"
    assert event["data"] == {"stepType": "bulk_email", "credits": 2, "calls": 3}


async def test_a_cancelled_call_bills_only_what_finished() -> None:
    engine = _Engine()
    emails = [f"u{i}@example.com" for i in range(1000)]
    bulk = InlineBulk(engine, "t1", EMAILS, emails)  # type: ignore[arg-type]
    bulk.start()
    first = await bulk.next(5)
    assert first is not None
    bulk.cancel()
    await bulk.close()
    assert bulk.cancelled and 1 <= len(bulk.done) < 1000
    data = ev.decode(engine.run_events.sent[0][1])["data"]
    assert data == {"stepType": "bulk_email", "credits": len(bulk.done),
                    "calls": len(bulk.done)}
    assert bulk.summary()["cancelled"] is True


async def test_nothing_ran_nothing_recorded_and_providers_must_be_configured() -> None:
    engine = _Engine()
    bulk = InlineBulk(engine, "t1", EMAILS, ["a@example.com"])  # type: ignore[arg-type]
    await bulk.close()  # never started
    assert engine.run_events.sent == []
    with pytest.raises(NoProvider, match="HOPFLOW_COMPANY_PROVIDER_URL"):
        InlineBulk(engine, "t1", COMPANY, ["acme.io"])  # type: ignore[arg-type]
    await asyncio.sleep(0)


def test_usage_events_reach_usage_daily_once_and_nothing_else(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'history.sqlite3'}")
    try:
        raw = ev.encode_usage(call_id="bulk-1", tenant="t1", time_ms=NOW,
                              step_type="bulk_email", credits=3, calls=5)
        bad = ev.decode(ev.encode_usage(call_id="bulk-2", tenant="t1", time_ms=NOW,
                                        step_type="bulk_email", credits=-1, calls=1))
        project(db, [ev.decode(raw), bad], {("run-events", 0): 2})
        day = utc_day(NOW)
        rows = db.write_now(lambda tx: queries.usage(tx, "t1", day, day))
        assert rows == [(day, "bulk_email", 3, 5)]
        assert db.write_now(lambda tx: tx.all("SELECT COUNT(*) FROM runs"))[0][0] == 0
    finally:
        db.close()
    assert ev.USAGE_RECORDED not in SUBSCRIBABLE  # webhooks never deliver it
    assert ev.USAGE_RECORDED not in ev.TYPES


class _ProviderSettings:
    def __init__(self, url: str) -> None:
        self.url = url

    def provider(self, name: str) -> dict[str, str | None]:
        return {"url": self.url, "token": None}


async def test_a_silent_stream_sends_keep_alive_comments(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """While a slow provider keeps the results back, comment lines flow; then result, summary."""
    monkeypatch.setattr(bulk_inline, "KEEPALIVE_SECONDS", 0.05)
    engine = _Engine()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({"name": "Acme"})

    async def bulk(request: web.Request) -> web.StreamResponse:
        call = InlineBulk(engine, "t1", COMPANY, ["acme.io"])  # type: ignore[arg-type]
        call.start()
        try:
            return await bulk_inline._stream(request, call)
        finally:
            await call.close()

    port = free_port()
    engine.settings = _ProviderSettings(f"http://127.0.0.1:{port}/c/{{query}}")  # type: ignore[assignment]
    app = web.Application()
    app.router.add_get("/c/{query}", slow)
    app.router.add_post("/bulk", bulk)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{port}/bulk")
    finally:
        await runner.cleanup()
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.headers["cache-control"] == "no-cache"
    frames = answer.content.split(b"\n\n")
    assert frames[0] == KEEPALIVE.rstrip(b"\n")  # nothing else was ready yet
    named = [f for f in frames if f.startswith(b"event: ")]
    assert [f.split(b"\n")[0] for f in named] == [b"event: result", b"event: summary"]
    assert b'"name":"Acme"' in named[0] and b'"credits":1' in named[1]
    assert ev.decode(engine.run_events.sent[0][1])["data"]["stepType"] == "bulk_company"
