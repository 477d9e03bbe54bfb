"""Platform / monitor event shapes and the HTTP publisher's defaults (pure)."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.events import event_from
from schemas.event_types import EVENT_TYPES_004, catalog, sample_event
from streams.triggers import envelope


@pytest.mark.parametrize(("raw", "field"), [
    (b"{not json", "body"), (b"[1]", "body"), (b'{"type": "x", "tenant": "t"}', "id"),
    (b'{"id": "1", "tenant": "t"}', "type"), (b'{"id": "1", "type": "x"}', "tenant"),
    (b'{"id": "", "type": "x", "tenant": "t"}', "id"),
    (b'{"id": "1", "type": "x", "tenant": "t", "time": 5}', "time"),
])
def test_bad_platform_events_name_the_attribute(raw: bytes, field: str) -> None:
    with pytest.raises(envelope.BadEvent) as caught:
        envelope.platform_event(raw)
    assert caught.value.field == field


def test_monitor_events_need_monitor_and_change() -> None:
    ok = envelope.monitor_event(b'{"id": "1", "tenant": "t", "monitor_id": "m", '
                                b'"change_type": "c", "data": 1}')
    assert ok["monitor_id"] == "m"
    with pytest.raises(envelope.BadEvent) as caught:
        envelope.monitor_event(b'{"id": "1", "tenant": "t", "monitor_id": "m"}')
    assert caught.value.field == "change_type"


def test_http_publisher_fills_defaults_and_keeps_the_callers_tenant() -> None:
    event = event_from({"type": "chat.message", "data": {"text": "hi"}}, "acme")
    assert event["tenant"] == "acme" and event["id"] and event["specversion"] == "1.0"
    assert event["source"] == "hopflow/api" and event["time"].endswith("Z")
    assert event_from({"type": "x", "id": "mine", "tenant": "acme"}, "acme")["id"] == "mine"
    for body, field in (({"type": "x", "tenant": "other"}, "tenant"), ({}, "type"),
                        ({"type": "x", "data": [1]}, "data"), ([], "body")):
        with pytest.raises(ApiError) as caught:
            event_from(body, "acme")
        assert caught.value.field == field


def test_catalog_lists_004_then_002_with_samples() -> None:
    types = catalog()
    assert len(types) == 32
    assert [t["type"] for t in types[:28]] == [name for name, _ in EVENT_TYPES_004]
    assert types[3]["value"] == 3 and types[28]["value"] is None
    assert [t["type"] for t in types[28:]] == ["document.uploaded", "document.processed",
                                               "extraction.completed", "chat.message"]
    assert types[28]["samplePayload"]["data"]["file_type"] == "pdf"
    assert all("event.data.<field>" in t["templateVariables"] for t in types)
    envelope.platform_event(sample_event("CallAdded", "t"))  # samples are valid events


async def test_a_refused_run_is_counted_and_dead_lettered(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A limit refusing one workflow's run is recorded; the other workflow still starts."""
    from streams import metrics
    from streams.triggers import event_agents
    from streams.triggers.launch import Launch, Refused

    started: list[str] = []

    async def fake_launch(engine: object, request: Launch) -> str:
        if request.workflow_id == "limited":
            raise Refused(429, "rate limit: 5 runs a minute", retry_after=3)
        assert request.idempotency_key == "event:e1" and request.trigger == "event"
        started.append(request.workflow_id)
        return "run_x"

    letters: list[tuple[object, str]] = []

    class Engine:
        async def dead_letter(self, event: object, reason: str, *, kind: str) -> None:
            letters.append((event, reason))

    monkeypatch.setattr(event_agents, "launch", fake_launch)
    counter = metrics.RUNS_REFUSED.labels(reason="status_429")
    before = counter._value.get()
    record = object()
    count = await event_agents.start_matches(
        Engine(), record, "t", ["limited", "free"],  # type: ignore[arg-type]
        {"id": "e1", "type": "CallAdded"}, "event", "event:e1")
    assert count == 1 and started == ["free"]
    assert counter._value.get() == before + 1
    assert letters == [(record, "run refused for workflow limited (429): "
                                "rate limit: 5 runs a minute")]
