"""runs.admit: the plan's runs per minute (sliding window) and per day, exact per tenant."""

from __future__ import annotations

from typing import Any

from streams.control.agent import apply
from streams.control.base import Tx
from tests.control_table import Table

DAY = 86_400_000
T0 = 20_000 * DAY + 3_600_000  # 01:00 UTC on some day


def admit(table: Table, key: str, now: int, *, plan: str = "free", tenant: str = "t",
          **extra: Any) -> dict[str, Any]:
    tx = Tx(table, tenant, f"c-{key}-{now}", "trigger", now, plan)
    outcome = apply(tx, "runs.admit", {"key": key, **extra})
    tx.write_to(table)
    assert outcome["ok"], outcome
    return outcome["result"]  # type: ignore[no-any-return]


def test_free_plan_admits_five_a_minute_then_refuses_with_the_wait() -> None:
    table = Table()
    for i in range(5):
        assert admit(table, f"r{i}", T0 + i * 1000)["admitted"]
    refused = admit(table, "r5", T0 + 10_000)
    assert refused["admitted"] is False
    assert refused["reason"] == "runs_per_minute"
    assert refused["retry_after"] == 50  # the oldest admission leaves the window at T0+60s
    assert "5 runs per minute" in refused["message"]
    assert admit(table, "r5", T0 + 60_001)["admitted"]  # the window slid past the first
    assert admit(table, "r6", T0 + 60_002)["admitted"] is False


def test_a_refusal_is_not_counted() -> None:
    table = Table()
    for i in range(5):
        admit(table, f"r{i}", T0)
    for i in range(20):
        assert not admit(table, f"x{i}", T0 + 1000 + i)["admitted"]
    assert table.body("ratelimit/t/runs")["used"] == 5


def test_a_redelivered_key_is_admitted_again_without_counting() -> None:
    table = Table()
    first = admit(table, "same", T0)
    again = admit(table, "same", T0 + 10)
    assert first == {"admitted": True, "repeated": False, "used_today": 1}
    assert again["admitted"] and again["repeated"]
    assert table.body("ratelimit/t/runs")["used"] == 1


def test_daily_cap_refuses_until_utc_midnight_and_resets_the_next_day() -> None:
    table = Table()
    for i in range(3):
        assert admit(table, f"r{i}", T0 + i * 120_000, daily_cap=3)["admitted"]
    refused = admit(table, "r3", T0 + 3 * 120_000, daily_cap=3)
    assert refused["admitted"] is False and refused["reason"] == "daily_runs"
    midnight = (T0 // DAY + 1) * DAY
    assert refused["retry_after"] == (midnight - (T0 + 3 * 120_000)) // 1000
    assert admit(table, "r3", midnight + 1, daily_cap=3)["admitted"]
    assert table.body("ratelimit/t/runs")["used"] == 1


def test_free_plan_stops_at_fifty_a_day() -> None:
    table = Table()
    for i in range(50):
        assert admit(table, f"r{i}", T0 + i * 61_000)["admitted"]
    assert admit(table, "r50", T0 + 50 * 61_000)["reason"] == "daily_runs"


def test_paid_plan_has_sixty_a_minute_and_no_daily_cap() -> None:
    table = Table()
    for i in range(60):
        assert admit(table, f"r{i}", T0 + i, plan="paid")["admitted"]
    assert admit(table, "r60", T0 + 100, plan="paid")["reason"] == "runs_per_minute"
    for i in range(61, 200):
        assert admit(table, f"r{i}", T0 + i * 1000 + 60_000, plan="paid")["admitted"]


def test_the_operators_daily_cap_lowers_every_limited_plan_but_not_unlimited() -> None:
    table = Table()
    for i in range(2):
        assert admit(table, f"p{i}", T0 + i, plan="paid", daily_cap=2)["admitted"]
    assert admit(table, "p2", T0 + 5, plan="paid", daily_cap=2)["reason"] == "daily_runs"
    free = Table()
    assert admit(free, "f0", T0, daily_cap=1)["admitted"]
    assert admit(free, "f1", T0 + 1, daily_cap=1)["reason"] == "daily_runs"
    unlimited = Table()
    for i in range(10):
        assert admit(unlimited, f"u{i}", T0, plan="unlimited", daily_cap=1)["admitted"]


def test_unlimited_plan_is_never_refused() -> None:
    table = Table()
    for i in range(500):
        assert admit(table, f"r{i}", T0, plan="unlimited")["admitted"]


def test_tenants_are_counted_apart() -> None:
    table = Table()
    for i in range(5):
        admit(table, f"a{i}", T0, tenant="a")
    assert not admit(table, "a5", T0, tenant="a")["admitted"]
    assert admit(table, "b0", T0, tenant="b")["admitted"]


def test_the_plan_row_decides_over_the_default() -> None:
    table = Table()
    table.run("tenant.set_plan", {"plan": "paid"}, tenant="t")
    for i in range(6):
        assert admit(table, f"r{i}", T0, plan="free")["admitted"]


def test_a_missing_key_is_a_bad_command() -> None:
    outcome = Table().run("runs.admit", {})
    assert not outcome["ok"] and outcome["status"] == 400 and outcome["field"] == "key"
