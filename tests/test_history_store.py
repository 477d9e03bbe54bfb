"""The history store alone: projection, idempotent replays, queries, retention.

Every test runs on SQLite and on a real PostgreSQL 15 server (one schema,
one set of queries).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from history import Database, open_database, projection, queries
from history.migrate import migrate, migrations
from schemas import run_events as ev

HOUR = 3600 * 1000
NOW = 1_800_000_000_000 - 1_800_000_000_000 % HOUR + 30 * 60 * 1000  # half past an hour


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
    store = open_database(url)
    yield store
    store.close()


def event(run_id: str, seq: int, type: str, data: dict[str, Any], *, tenant: str = "t1",
          workflow: str = "wf1", at: int = NOW) -> dict[str, Any]:
    return ev.decode(ev.encode(run_id=run_id, sequence=seq, type=type, tenant=tenant,
                               workflow_id=workflow, workflow_version=1, time_ms=at, data=data))


def step(seq: int, step_id: str, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "stepId": step_id, "stepType": "webhook", "attempt": 1,
            "status": status, "startedMs": NOW + seq, "endedMs": NOW + seq + 10,
            "durationMs": 10, "output": {"status": 200, "body": {"n": seq}}, "error": None,
            "request": {"url": "https://x"}, **extra}


def run_events(run_id: str, status: str = "completed", *, created: int = NOW,
               tenant: str = "t1", workflow: str = "wf1") -> list[dict[str, Any]]:
    """A two-step run that ends with `status`."""
    kw = {"tenant": tenant, "workflow": workflow}
    ended = created + 100
    end_type = ev.TERMINAL_TYPES[status]
    return [
        event(run_id, 1, ev.RUN_STARTED, {"trigger": "manual", "input": {"email": "a@b"},
                                          "idempotencyKey": None, "createdMs": created}, **kw),
        event(run_id, 2, ev.STEP_COMPLETED, step(1, "lookup"), **kw),
        event(run_id, 3, ev.STEP_FAILED if status == "failed" else ev.STEP_COMPLETED,
              step(2, "sink", "failed" if status == "failed" else "completed"), **kw),
        event(run_id, 4, end_type, {"status": status, "createdMs": created, "endedMs": ended,
                                    "durationMs": 100, "result": {"ok": True},
                                    "error": "boom" if status == "failed" else None}, **kw)]


def project(db: Database, records: list[Any], offsets: dict | None = None) -> int:
    return db.write_now(lambda tx: projection.apply_batch(tx, records, offsets or {}))


def read(db: Database, fn: Any) -> Any:
    return db.write_now(fn)


def test_migrations_are_versioned_and_applied_once(db: Database) -> None:
    assert db.write_now(migrate) == []  # open_database already applied them
    versions = read(db, lambda tx: tx.all("SELECT version FROM schema_migrations"))
    assert [v[0] for v in versions] == [m[0] for m in migrations()]


def test_a_run_is_projected_with_its_steps(db: Database) -> None:
    project(db, run_events("r1"))
    run = read(db, lambda tx: queries.get_run(tx, "t1", "r1"))
    assert run["status"] == "completed" and run["ended_ms"] == NOW + 100
    assert [s["step_id"] for s in run["history"]] == ["lookup", "sink"]
    assert run["history"][0]["output"] == '{"status":200,"body":{"n":1}}'
    assert read(db, lambda tx: queries.get_run(tx, "other-tenant", "r1")) is None


def test_replaying_a_batch_changes_nothing(db: Database) -> None:
    batch = run_events("r1") + run_events("r2", "failed")
    project(db, batch, {("ev", 0): 8})
    before = read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW))
    assert project(db, batch, {("ev", 0): 8}) == 0
    assert read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW)) == before
    assert before["windows"]["24h"]["started"] == 2
    assert before["windows"]["24h"]["completed"] == 1
    assert before["windows"]["24h"]["failed"] == 1
    steps = read(db, lambda tx: tx.one("SELECT COUNT(*) FROM step_executions"))
    assert steps[0] == 4


def test_a_batch_skips_row_updates_a_later_event_overwrites(db: Database) -> None:
    """One batch holding whole runs ends with the same rows as one event per batch."""
    retried = [*run_events("r2")[:2],
               event("r2", 5, ev.RUN_RETRYING, {"stepId": "sink", "attempt": 1}),
               *run_events("r2")[2:]]
    retried[-2]["sequence"], retried[-1]["sequence"] = 6, 7
    live = [*run_events("r3")[:2],
            event("r3", 5, ev.RUN_RETRYING, {"stepId": "sink", "attempt": 1})]
    events = run_events("r1") + retried + live
    project(db, events)
    together = read(db, lambda tx: tx.all(
        "SELECT run_id, status, current_step, updated_ms, event_seq, ended_ms FROM runs "
        "ORDER BY run_id"))
    steps = read(db, lambda tx: tx.all("SELECT run_id, seq, status FROM step_executions "
                                       "ORDER BY run_id, seq"))
    health = read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW))
    read(db, lambda tx: tx.execute("DELETE FROM runs"))
    read(db, lambda tx: tx.execute("DELETE FROM step_executions"))
    read(db, lambda tx: tx.execute("DELETE FROM run_stats_hourly"))
    for one in events:
        project(db, [one])
    assert read(db, lambda tx: tx.all(
        "SELECT run_id, status, current_step, updated_ms, event_seq, ended_ms FROM runs "
        "ORDER BY run_id")) == together
    assert read(db, lambda tx: tx.all("SELECT run_id, seq, status FROM step_executions "
                                      "ORDER BY run_id, seq")) == steps
    assert read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW)) == health
    assert [row[1] for row in together] == ["completed", "completed", "retrying"]
    assert len(steps) == 5


def test_an_older_event_never_overwrites_a_newer_state(db: Database) -> None:
    events = run_events("r1")
    project(db, events)
    project(db, [event("r1", 2, ev.RUN_RETRYING, {"stepId": "lookup"})])
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r1"))["status"] == "completed"


def test_offsets_are_stored_with_the_rows(db: Database) -> None:
    project(db, run_events("r1"), {("t.run-events", 3): 42, ("t.wf", 0): 7})
    project(db, [], {("t.run-events", 3): 50})
    stored = read(db, lambda tx: projection.stored_offsets(tx, ["t.run-events"]))
    assert stored == {("t.run-events", 3): 50}


def test_a_failed_batch_stores_neither_rows_nor_offsets(db: Database) -> None:
    bad = [*run_events("r1"), {"type": ev.RUN_STARTED, "subject": "r2"}]  # no data: KeyError
    with pytest.raises(KeyError):
        project(db, bad, {("t.run-events", 0): 99})
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r1")) is None
    assert read(db, lambda tx: projection.stored_offsets(tx, ["t.run-events"])) == {}


def test_lists_filter_paginate_and_count(db: Database) -> None:
    records = []
    for i in range(30):
        status = "failed" if i % 3 == 0 else "completed"
        records += run_events(f"r{i:02d}", status, created=NOW - i * 60_000,
                              workflow="wf1" if i < 20 else "wf2")
    project(db, records)
    page = read(db, lambda tx: queries.list_runs(tx, queries.RunFilter("t1"), 10, 0))
    assert [r["run_id"] for r in page.runs] == [f"r{i:02d}" for i in range(10)]
    assert page.total == 30 and page.has_more and not page.total_capped
    last = read(db, lambda tx: queries.list_runs(tx, queries.RunFilter("t1"), 10, 20))
    assert [r["run_id"] for r in last.runs][-1] == "r29" and not last.has_more
    failed = queries.RunFilter("t1", "wf1", ("failed",))
    page = read(db, lambda tx: queries.list_runs(tx, failed, 50, 0))
    assert [r["run_id"] for r in page.runs] == ["r00", "r03", "r06", "r09", "r12", "r15",
                                                "r18"]
    window = queries.RunFilter("t1", from_ms=NOW - 5 * 60_000 + 1, to_ms=NOW)
    page = read(db, lambda tx: queries.list_runs(tx, window, 50, 0))
    assert [r["run_id"] for r in page.runs] == ["r01", "r02", "r03", "r04"]
    with_steps = read(db, lambda tx: queries.list_runs(
        tx, queries.RunFilter("t1"), 2, 0, with_steps=True))
    assert [s["step_id"] for s in with_steps.steps["r00"]] == ["lookup", "sink"]
    assert read(db, lambda tx: queries.list_runs(
        tx, queries.RunFilter("t2"), 10, 0)).runs == []


def test_health_counts_windows_and_the_last_error(db: Database) -> None:
    project(db, run_events("old", created=NOW - 10 * 24 * HOUR)
            + run_events("week", "failed", created=NOW - 3 * 24 * HOUR)
            + run_events("today", created=NOW - HOUR)
            + run_events("now", "cancelled"))
    figures = read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW))
    w = figures["windows"]
    assert (w["24h"]["started"], w["24h"]["completed"], w["24h"]["cancelled"]) == (2, 1, 1)
    assert (w["7d"]["started"], w["7d"]["failed"]) == (3, 1)
    assert (w["30d"]["started"], w["30d"]["completed"]) == (4, 2)
    assert w["30d"]["completed_ms_sum"] == 200
    assert figures["last_error"] == "boom" and figures["last_status"] == "cancelled"
    assert figures["last_run_ms"] == NOW


def test_health_has_24_hourly_buckets_counted_by_status(db: Database) -> None:
    """The console's runs-per-hour chart: every hour of the last 24, also the empty ones."""
    project(db, run_events("yesterday", created=NOW - 24 * HOUR)  # outside the 24 buckets
            + run_events("h5a", created=NOW - 5 * HOUR)
            + run_events("h5b", "failed", created=NOW - 5 * HOUR + 60_000)
            + run_events("now", "cancelled")
            + run_events("other", tenant="t2"))
    figures = read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW))
    buckets = figures["hourly"]
    this_hour = NOW - NOW % HOUR
    assert [b["hour_ms"] for b in buckets] == [this_hour - (23 - i) * HOUR for i in range(24)]
    by_hour = {b["hour_ms"]: b for b in buckets}
    assert by_hour[this_hour - 5 * HOUR] == {"hour_ms": this_hour - 5 * HOUR, "started": 2,
                                             "completed": 1, "failed": 1, "cancelled": 0}
    assert by_hour[this_hour] == {"hour_ms": this_hour, "started": 1, "completed": 0,
                                  "failed": 0, "cancelled": 1}
    assert sum(b["started"] for b in buckets) == 3  # yesterday's and t2's runs are not here
    assert read(db, lambda tx: queries.hourly(tx, "t1", "nope", NOW)) == [
        {"hour_ms": b["hour_ms"], "started": 0, "completed": 0, "failed": 0, "cancelled": 0}
        for b in buckets]


def test_deleting_a_run_takes_it_out_of_health(db: Database) -> None:
    project(db, run_events("r1") + run_events("r2"))
    project(db, [event("r1", 5, ev.RUN_DELETED, {})])
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r1")) is None
    w = read(db, lambda tx: queries.health(tx, "t1", "wf1", NOW))["windows"]["24h"]
    assert (w["started"], w["completed"]) == (1, 1)
    project(db, [event("r2", 5, ev.RUN_DELETED, {}, tenant="t2")])  # another tenant's delete
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r2")) is not None


def test_a_deleted_workflow_takes_its_history_and_late_events_stay_out(db: Database) -> None:
    project(db, run_events("r1") + run_events("r2", workflow="wf2"))
    project(db, [projection.WorkflowDeleted("t1", "wf1", NOW + 1000)])
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r1")) is None
    assert read(db, lambda tx: queries.get_run(tx, "t1", "r2")) is not None
    project(db, run_events("late", created=NOW + 500))  # started before the delete
    assert read(db, lambda tx: queries.get_run(tx, "t1", "late")) is None
    project(db, run_events("new", created=NOW + 2000))  # the id was reused afterwards
    assert read(db, lambda tx: queries.get_run(tx, "t1", "new")) is not None


def test_retention_deletes_runs_that_ended_before_the_cutoff(db: Database) -> None:
    project(db, run_events("old", created=NOW - 40 * 24 * HOUR) + run_events("new"))
    assert db.write_now(lambda tx: projection.expire(tx, NOW - 30 * 24 * HOUR)) == 1
    assert read(db, lambda tx: queries.get_run(tx, "t1", "old")) is None
    assert read(db, lambda tx: queries.get_run(tx, "t1", "new")) is not None
    steps = read(db, lambda tx: tx.one("SELECT COUNT(*) FROM step_executions"))
    assert steps[0] == 2


def test_files_a_run_names_are_in_use_until_its_history_goes(db: Database) -> None:
    a, b, c = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
    started = run_events("with-file", created=NOW - 40 * 24 * HOUR)
    started[0]["data"]["input"] = {"attachment": {"fileId": a, "name": "x.pdf"}, "fileId": a,
                                   "files": [{"fileId": b}], "note": c,
                                   "deep": {"x": {"y": {"fileId": c}}}}
    project(db, started + run_events("other", workflow="wf2"))
    project(db, started[:1])  # a replay records nothing twice
    in_use = read(db, lambda tx: queries.files_in_use(tx, "t1", [a, b, c]))
    assert in_use == {a, b}  # a bare string is no reference
    assert read(db, lambda tx: queries.files_in_use(tx, "t2", [a, b])) == set()  # per tenant
    assert db.write_now(lambda tx: projection.expire(tx, NOW - 30 * 24 * HOUR)) == 1
    assert read(db, lambda tx: queries.files_in_use(tx, "t1", [a, b])) == set()
    for end in ([event("again", 5, ev.RUN_DELETED, {})],
                [projection.WorkflowDeleted("t1", "wf1", NOW + 1000)]):
        run = run_events("again")
        run[0]["data"]["input"] = {"fileId": a}
        project(db, run)
        assert read(db, lambda tx: queries.files_in_use(tx, "t1", [a])) == {a}
        project(db, end)
        assert read(db, lambda tx: queries.files_in_use(tx, "t1", [a])) == set()
