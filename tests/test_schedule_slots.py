"""Slot computation: every minute, DST gap and repeat, catch-up policies, minimum interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.triggers import slots
from streams.triggers.slots import RUN_ONCE, SKIP, ScheduleInvalid, parse


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def walk(cron: slots.Cron, start: datetime, end: datetime) -> list[datetime]:
    found, at = [], start
    while True:
        at = cron.next_after(at)
        if at > end:
            return found
        found.append(at)


def test_every_minute_in_utc() -> None:
    cron = parse("* * * * *", "UTC", 60)
    assert cron.next_after(utc(2026, 5, 1, 10, 0, 30)) == utc(2026, 5, 1, 10, 1)
    assert cron.next_after(utc(2026, 5, 1, 10, 1)) == utc(2026, 5, 1, 10, 2)
    assert cron.latest_at(utc(2026, 5, 1, 10, 1)) == utc(2026, 5, 1, 10, 1)
    assert cron.latest_at(utc(2026, 5, 1, 10, 1, 59)) == utc(2026, 5, 1, 10, 1)


def test_weekdays_at_nine_new_york() -> None:
    cron = parse("0 9 * * 1-5", "America/New_York", 60)
    # Saturday 2026-05-02 -> Monday 2026-05-04 09:00 EDT (13:00 UTC)
    assert cron.next_after(utc(2026, 5, 2, 12)) == utc(2026, 5, 4, 13)
    assert slots.iso(utc(2026, 5, 4, 13), cron.zone) == "2026-05-04T09:00:00-04:00"


def test_spring_forward_gap_fires_once_at_the_end_of_the_gap() -> None:
    # Europe/Berlin 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC); 02:30 does not exist
    cron = parse("30 2 * * *", "Europe/Berlin", 60)
    fired = walk(cron, utc(2026, 3, 27, 12), utc(2026, 3, 30, 12))
    assert fired == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


def test_spring_forward_every_minute_has_no_duplicate_instants() -> None:
    cron = parse("* * * * *", "Europe/Berlin", 60)
    fired = walk(cron, utc(2026, 3, 29, 0, 50), utc(2026, 3, 29, 1, 10))
    assert len(fired) == len(set(fired))
    assert fired == sorted(fired)
    # 00:51..00:59 UTC, then the gap's end 01:00 UTC (03:00 CEST), then 01:01..01:10
    assert fired == [utc(2026, 3, 29, 0, m) for m in range(51, 60)] + [
        utc(2026, 3, 29, 1, m) for m in range(0, 11)]


def test_fall_back_repeat_fires_once() -> None:
    # Europe/Berlin 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice
    cron = parse("30 2 * * *", "Europe/Berlin", 60)
    fired = walk(cron, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    assert fired == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_fall_back_new_york_repeat_hourly() -> None:
    # 2026-11-01 America/New_York: 02:00 EDT -> 01:00 EST; "0 1 * * *" once, at 01:00 EDT
    cron = parse("0 1 * * *", "America/New_York", 60)
    fired = walk(cron, utc(2026, 11, 1, 0), utc(2026, 11, 1, 12))
    assert fired == [utc(2026, 11, 1, 5)]
    # a ticker whose cursor is that slot sees nothing due during the repeated hour
    assert slots.due(cron, utc(2026, 11, 1, 5), utc(2026, 11, 1, 6, 30), RUN_ONCE) is None


def test_due_fires_the_slot_just_reached() -> None:
    cron = parse("* * * * *", "UTC", 60)
    due = slots.due(cron, utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 10, 1, 1), RUN_ONCE)
    assert due == slots.Due(utc(2026, 5, 1, 10, 1), utc(2026, 5, 1, 10, 1))
    assert slots.due(cron, utc(2026, 5, 1, 10, 1), utc(2026, 5, 1, 10, 1, 30), RUN_ONCE) is None
    # skip still fires a fresh slot
    assert slots.due(cron, utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 10, 1, 1), SKIP).slot


def test_catch_up_run_once_fires_only_the_latest_missed_slot() -> None:
    cron = parse("* * * * *", "UTC", 60)
    now = utc(2026, 5, 1, 12, 0, 40)
    due = slots.due(cron, utc(2026, 5, 1, 10, 0), now, RUN_ONCE)
    assert due == slots.Due(utc(2026, 5, 1, 12, 0), utc(2026, 5, 1, 12, 0))


def test_catch_up_skip_jumps_to_the_next_future_slot() -> None:
    cron = parse("* * * * *", "UTC", 60)
    now = utc(2026, 5, 1, 12, 0, 40)
    due = slots.due(cron, utc(2026, 5, 1, 10, 0), now, SKIP)
    assert due == slots.Due(None, utc(2026, 5, 1, 12, 0))
    assert cron.next_after(due.cursor) == utc(2026, 5, 1, 12, 1)


def test_minimum_interval() -> None:
    with pytest.raises(ScheduleInvalid) as err:
        parse("*/5 * * * * *", "UTC", 60)
    assert err.value.field == "cron_expression"
    with pytest.raises(ScheduleInvalid) as err:
        parse("*/5 * * * *", "UTC", 3600)
    assert "minimum interval is 3600" in err.value.message
    assert parse("0 * * * *", "UTC", 3600)
    cron = parse("*/2 * * * * *", "UTC", 1)  # seconds first, only below a 60 s minimum
    assert cron.seconds
    assert cron.next_after(utc(2026, 5, 1, 10, 0, 1)) == utc(2026, 5, 1, 10, 0, 2)
    with pytest.raises(ScheduleInvalid):
        parse("*/2 * * * * *", "UTC", 5)


@pytest.mark.parametrize("expression", ["", "61 * * * *", "* * *", "a b c d e",
                                        "* * * * * * *", "0 0 31 2 *", "@reboot", 5, None])
def test_bad_cron_names_cron_expression(expression: object) -> None:
    with pytest.raises(ScheduleInvalid) as err:
        parse(expression, "UTC", 60)
    assert err.value.field == "cron_expression"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", None, "../etc/passwd", 3])
def test_bad_timezone_names_timezone(zone: object) -> None:
    with pytest.raises(ScheduleInvalid) as err:
        parse("* * * * *", zone, 60)
    assert err.value.field == "timezone"


def test_cursor_far_behind_does_not_walk_every_slot() -> None:
    cron = parse("* * * * * *", "UTC", 1)
    now = utc(2026, 5, 1)
    due = slots.due(cron, now - timedelta(days=30), now, RUN_ONCE)
    assert due is not None and due.slot == now
