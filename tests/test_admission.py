"""The worker's side of run limits: no round trip for unlimited plans, refusals recorded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from schemas import codec
from streams.metrics import RUNS_REFUSED
from streams.triggers import launch
from streams.triggers.launch import Launch, Refused


class Registry:
    def __init__(self, plan: str | None, outcome: dict[str, Any] | None = None) -> None:
        self.plan, self._outcome = plan, outcome

    def get(self, kind: str, tenant: str, entry_id: str) -> dict[str, Any] | None:
        assert (kind, entry_id) == ("plan", "current")
        return None if self.plan is None else {"plan": self.plan}

    async def outcome(self, command_id: str, timeout: float) -> dict[str, Any] | None:
        return self._outcome


class Topic:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, key: str, value: bytes) -> Any:
        self.sent.append((key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def engine(plan: str | None, outcome: dict[str, Any] | None = None,
           default: str = "free") -> Any:
    return SimpleNamespace(registry=Registry(plan, outcome), control_commands=Topic(),
                           dead_letters=Topic(),
                           settings=SimpleNamespace(default_plan=default, daily_runs_cap=None))


async def test_an_unlimited_plan_sends_no_admission_command() -> None:
    e = engine("unlimited")
    await launch.admit(e, "t", "run_1")
    assert e.control_commands.sent == []
    e = engine(None, default="unlimited")
    await launch.admit(e, "t", "run_1")
    assert e.control_commands.sent == []


async def test_a_limited_plan_asks_the_tenants_control_agent() -> None:
    e = engine("free", {"ok": True, "result": {"admitted": True}})
    await launch.admit(e, "t", "run_1")
    [(key, value)] = e.control_commands.sent
    command = codec("control_command").decode(value)
    assert key == "t" and command["op"] == "runs.admit"
    assert orjson.loads(command["payload"]) == {"key": "run_1"}


async def test_a_refusal_is_a_429_with_retry_after() -> None:
    e = engine("free", {"ok": True, "result": {
        "admitted": False, "reason": "runs_per_minute", "retry_after": 42,
        "message": "rate limit of 5 runs per minute reached for plan free"}})
    with pytest.raises(Refused) as caught:
        await launch.admit(e, "t", "run_1")
    assert (caught.value.status, caught.value.retry_after, caught.value.reason) == \
        (429, 42, "runs_per_minute")


async def test_no_answer_in_time_refuses_with_503_rather_than_running_past_the_limit() -> None:
    e = engine("paid", None)
    with pytest.raises(Refused) as caught:
        await launch.admit(e, "t", "run_1")
    assert caught.value.status == 503 and caught.value.retry_after == 1


async def test_record_refusal_counts_and_keeps_a_dead_letter() -> None:
    e = engine("free")
    before = RUNS_REFUSED.labels(reason="daily_runs")._value.get()
    request = Launch("t", "wf_1", {"n": 1}, "schedule", idempotency_key="slot-1")
    await launch.record_refusal(e, request, Refused(
        429, "daily limit of 50 runs reached", retry_after=3600, reason="daily_runs"))
    assert RUNS_REFUSED.labels(reason="daily_runs")._value.get() == before + 1
    [(key, value)] = e.dead_letters.sent
    record = codec("dead_letter").decode(value)
    assert key == record["topic"] == "refused:schedule"
    assert record["key"] == b"t/wf_1"
    assert orjson.loads(record["value"])["input"] == {"n": 1}
    assert record["reason"].startswith("429 daily_runs: daily limit of 50")
    assert "retry after 3600 s" in record["reason"]
