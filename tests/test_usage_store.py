"""Usage in the history store: credits and calls per tenant, UTC day and step type.

On SQLite and a real PostgreSQL 15 (the db fixture of test_history_store).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from api.errors import ApiError
from api.usage import MAX_RANGE_DAYS, day_range, present
from history import Database, open_database, queries
from history.projection import utc_day
from schemas import run_events as ev
from tests.test_history_store import NOW, event, project, read, step

DAY = utc_day(NOW)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
    store = open_database(url)
    yield store
    store.close()


def lookup_run(run_id: str, tenant: str, credits: list[int]) -> list[dict]:
    """A run of lookups: one step event per entry of `credits`, then its end."""
    records = [event(run_id, 1, ev.RUN_STARTED, {"trigger": "manual", "input": {},
                                                 "createdMs": NOW}, tenant=tenant)]
    for i, n in enumerate(credits, start=1):
        data = {**step(i, f"l{i}"), "stepType": "email_lookup", "credits": n}
        records.append(event(run_id, i + 1, ev.STEP_COMPLETED, data, tenant=tenant))
    return records


def usage(db: Database, tenant: str) -> list[tuple]:
    return read(db, lambda tx: queries.usage(tx, tenant, DAY, DAY))


def test_credits_and_calls_are_counted_once_per_step(db: Database) -> None:
    records = lookup_run("r1", "t1", [1, 1, 0])
    project(db, records)
    assert usage(db, "t1") == [(DAY, "email_lookup", 2, 3)]
    project(db, records)  # a redelivered batch counts nothing again
    project(db, records[1:2])
    assert usage(db, "t1") == [(DAY, "email_lookup", 2, 3)]
    assert usage(db, "t2") == []


def test_failed_attempts_count_as_calls_and_pure_steps_not_at_all(db: Database) -> None:
    failed = {**step(1, "hook", "failed"), "credits": 0, "errorClass": "transient",
              "retryable": True}
    retried = {**step(1, "hook"), "attempt": 2, "credits": 0}
    pure = {**step(2, "shape"), "stepType": "transform"}  # no credits key: not an I/O call
    project(db, [event("r2", 1, ev.RUN_STARTED, {"trigger": "manual", "input": {},
                                                 "createdMs": NOW}),
                 event("r2", 2, ev.STEP_FAILED, failed), event("r2", 3, ev.STEP_COMPLETED,
                                                               retried),
                 event("r2", 4, ev.STEP_COMPLETED, pure)])
    assert usage(db, "t1") == [(DAY, "webhook", 0, 2)]
    run = read(db, lambda tx: queries.get_run(tx, "t1", "r2"))
    assert [s["error_class"] for s in run["history"]] == ["transient", None, None]


def test_usage_outlives_the_run(db: Database) -> None:
    project(db, lookup_run("r3", "t1", [1]))
    project(db, [event("r3", 9, ev.RUN_DELETED, {})])
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r3")) is None
    assert usage(db, "t1") == [(DAY, "email_lookup", 1, 1)]


def _range(query: str, today: date = date(2026, 3, 15)) -> tuple[date, date]:
    return day_range(make_mocked_request("GET", f"/api/usage?{query}"), today)


def test_day_range_defaults_and_errors() -> None:
    assert _range("") == (date(2026, 3, 1), date(2026, 3, 15))
    assert _range("from=2026-01-10&to=2026-01-20") == (date(2026, 1, 10), date(2026, 1, 20))
    assert _range("to=2026-02-10") == (date(2026, 2, 1), date(2026, 2, 10))
    assert _range("from=2026-03-02") == (date(2026, 3, 2), date(2026, 3, 15))
    for query, field in (("from=2026-13-01", "from"), ("to=yesterday", "to"),
                         ("from=20260101", "from"), ("from=2026-03-10&to=2026-03-01", "to"),
                         ("from=2024-01-01&to=2026-01-01", "to")):
        with pytest.raises(ApiError) as caught:
            _range(query)
        assert caught.value.status == 400 and caught.value.field == field, query
    first = date(2025, 1, 1)
    assert (_range("from=2025-01-01", date(2026, 6, 1))[1] - first).days == MAX_RANGE_DAYS - 1


def test_present_totals_and_per_type() -> None:
    body = present("t1", date(2026, 3, 1), date(2026, 3, 2), [
        ("2026-03-01", "email_lookup", 2, 3), ("2026-03-02", "email_lookup", 1, 1),
        ("2026-03-02", "webhook", 0, 4)])
    assert body["totals"] == {"credits": 3, "calls": 8}
    assert body["byType"] == [{"stepType": "email_lookup", "credits": 3, "calls": 4},
                              {"stepType": "webhook", "credits": 0, "calls": 4}]
    assert body["days"][0] == {"day": "2026-03-01", "stepType": "email_lookup", "credits": 2,
                               "calls": 3}
