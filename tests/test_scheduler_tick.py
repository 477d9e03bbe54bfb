"""The ticker's decisions without Kafka: launch and send_control are stand-ins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.triggers import scheduler
from streams.triggers.launch import Launch, Refused


class FakeRegistry:
    def __init__(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.rows = rows
        self.caught_up = asyncio.Event()
        self.caught_up.set()

    def every(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        assert kind == "schedule"
        return self.rows


class FakeEngine:
    def __init__(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.registry = FakeRegistry(rows)


def row(**change: Any) -> dict[str, Any]:
    return {"workflow_id": "w", "cron_expression": "* * * * *", "timezone": "UTC",
            "enabled": True, "catch_up": "run_once",
            "cursor_s": int(datetime(2026, 5, 1, 10, 0, tzinfo=UTC).timestamp()), **change}


NOW = datetime(2026, 5, 1, 10, 1, 0, 500_000, tzinfo=UTC)
SLOT = int(datetime(2026, 5, 1, 10, 1, tzinfo=UTC).timestamp())


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {"launch": [], "control": [], "refuse": []}

    async def fake_launch(engine: Any, request: Launch) -> str:
        seen["launch"].append(request)
        if seen["refuse"]:
            raise seen["refuse"][0]
        return "run_1"

    async def fake_send_control(engine: Any, tenant: str, op: str, actor: str,
                                payload: dict[str, Any]) -> str:
        seen["control"].append((tenant, op, payload))
        return "c1"

    monkeypatch.setattr(scheduler, "launch", fake_launch)
    monkeypatch.setattr(scheduler.intake, "send_control", fake_send_control)
    return seen


async def test_a_due_slot_launches_once_and_records_the_cursor(calls: dict) -> None:
    ticker = scheduler.Scheduler(FakeEngine([("t", "w", row())]))  # type: ignore[arg-type]
    await ticker.tick(NOW)
    [request] = calls["launch"]
    assert (request.trigger, request.idempotency_key) == ("schedule", f"schedule:w:{SLOT}")
    assert request.input["scheduledAt"] == "2026-05-01T10:01:00+00:00"
    assert calls["control"] == [("t", "schedule.fired", {
        "workflow_id": "w", "cursor_s": SLOT, "slot_s": SLOT, "run_id": "run_1"})]
    await ticker.tick(NOW)  # the replica has not shown the new cursor yet: no second launch
    assert len(calls["launch"]) == 1 and len(calls["control"]) == 1


async def test_disabled_and_not_caught_up_fire_nothing(calls: dict) -> None:
    engine = FakeEngine([("t", "w", row(enabled=False))])
    await scheduler.Scheduler(engine).tick(NOW)  # type: ignore[arg-type]
    engine = FakeEngine([("t", "w", row())])
    engine.registry.caught_up.clear()
    await scheduler.Scheduler(engine).tick(NOW)  # type: ignore[arg-type]
    assert calls["launch"] == [] and calls["control"] == []


async def test_a_refusal_is_recorded_and_a_503_retried(calls: dict) -> None:
    calls["refuse"].append(Refused(409, "workflow 'w' is disabled; enable it to run it"))
    ticker = scheduler.Scheduler(FakeEngine([("t", "w", row())]))  # type: ignore[arg-type]
    await ticker.tick(NOW)
    [(_, _, payload)] = calls["control"]
    assert payload["refusal"].startswith("409: workflow 'w' is disabled")
    assert payload["cursor_s"] == SLOT
    calls["refuse"][0] = Refused(503, "workflow version not replicated yet; retry")
    calls["control"].clear()
    ticker = scheduler.Scheduler(FakeEngine([("t", "w", row())]))  # type: ignore[arg-type]
    await ticker.tick(NOW)
    assert calls["control"] == []  # the slot stays due


async def test_skip_after_downtime_moves_the_cursor_without_a_run(calls: dict) -> None:
    late = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
    ticker = scheduler.Scheduler(FakeEngine([("t", "w", row(catch_up="skip"))]))  # type: ignore[arg-type]
    await ticker.tick(late)
    assert calls["launch"] == []
    assert calls["control"] == [("t", "schedule.fired", {
        "workflow_id": "w", "cursor_s": int(datetime(2026, 5, 1, 12, tzinfo=UTC).timestamp())})]
