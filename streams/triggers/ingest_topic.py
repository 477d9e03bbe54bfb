"""The `ingest` topic: a webhook gateway that already produces to Kafka starts runs here.

Key: an ingest token (`whk_...`) or `tenant/workflow_id`. Value: JSON
`{"body": <string or JSON value>, "headers": {...}}`. Each record goes through
the same `deliver()` as the HTTP ingest URL (signature when configured, body to
input, launch). Its idempotency key is the `webhook-id` header, else the
record's topic/partition/offset, so a record redelivered after a crash starts
one run. A record that cannot start a run is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from streams import metrics
from streams.engine import Engine
from streams.triggers.ingest import by_key, deliver
from streams.triggers.launch import Refused

log = logging.getLogger(__name__)
TRIGGER = "ingest_topic"
RETRIES_WHILE_CATCHING_UP = 5  # a 503: the registry replica is behind; it catches up in ms


class BadRecord(ValueError):
    """The record is not a usable ingest record; the message says why."""


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def parse(key: Any, value: Any, record_headers: Any) -> tuple[str, bytes, dict[str, str]]:
    """(key, raw body, lower-case headers) of one record; BadRecord if it has none."""
    if not key:
        raise BadRecord("record has no key (an ingest token or tenant/workflow_id)")
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"value is not JSON: {exc}") from None
    if not isinstance(doc, dict) or "body" not in doc:
        raise BadRecord('value must be a JSON object {"body": ..., "headers": {...}}')
    headers: dict[str, str] = {}
    pairs = record_headers.items() if isinstance(record_headers, dict) else record_headers or ()
    for name, raw in pairs:
        headers[_text(name).lower()] = _text(raw)
    given = doc.get("headers") or {}
    if not isinstance(given, dict):
        raise BadRecord("headers must be a JSON object")
    headers.update({str(k).lower(): str(v) for k, v in given.items()})
    body = doc["body"]
    if isinstance(body, str):
        raw_body = body.encode()
    else:
        raw_body = orjson.dumps(body)
        headers.setdefault("content-type", "application/json")
    return _text(key), raw_body, headers


def register(engine: Engine) -> None:
    @engine.app.agent(engine.ingest, name="ingest-agent")
    async def ingest_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            msg = event.message
            try:
                key, raw, headers = parse(msg.key, msg.value, msg.headers)
            except BadRecord as exc:
                await engine.dead_letter(event, f"bad ingest record: {exc}", kind="decode")
                continue
            fallback = f"ingest:{msg.topic}:{msg.partition}:{msg.offset}"
            for attempt in range(RETRIES_WHILE_CATCHING_UP + 1):
                try:
                    await deliver(engine, by_key(engine, key), raw, headers, trigger=TRIGGER,
                                  fallback_key=fallback)
                except Refused as exc:
                    if exc.status == 503 and attempt < RETRIES_WHILE_CATCHING_UP:
                        await asyncio.sleep(1.0)
                        continue
                    metrics.RUNS_REFUSED.labels(reason=exc.reason).inc()
                    await engine.dead_letter(  # the record itself, so it can be replayed
                        event, f"ingest refused ({exc.status}): {exc.message}",
                        kind="refused")
                break
