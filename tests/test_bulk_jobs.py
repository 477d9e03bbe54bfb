"""Bulk jobs without a broker: the job state machine and the SQL projection.

The projection runs on SQLite and a real PostgreSQL 15 (tests/postgres_fixture.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from history import Database, open_database
from history import bulk as sql
from streams.bulk import jobs

NOW = 1_795_000_000_000  # 2026-11-18 UTC
DAY = "2026-11-18"


def res(index: int, ok: bool = True, credits: int = 1) -> dict[str, Any]:
    return {"index": index, "ok": ok, "output": '{"valid": true}' if ok else None,
            "error": None if ok else "bad", "credits": credits if ok else 0}


# ------------------------------------------------------------------ state machine

def test_results_count_each_row_once_and_complete_on_the_last() -> None:
    job = jobs.started(jobs.new_job("t", "phone", 10, NOW), NOW)
    assert job["status"] == jobs.PROCESSING
    a = jobs.apply_results(job, [res(i) for i in range(6)], NOW)
    assert (a.job["processed"], a.job["credits"], a.completed) == (6, 6, False)
    again = jobs.apply_results(a.job, [res(i) for i in range(6)], NOW)  # a redelivered batch
    assert again.job is a.job and again.new_rows == []
    b = jobs.apply_results(a.job, [res(5), res(6, ok=False), res(7), res(8), res(9), res(10)],
                           NOW + 5)
    assert b.new_rows == [6, 7, 8, 9]  # 5 was done, 10 is past the end
    assert (b.job["processed"], b.job["failed"], b.job["credits"]) == (9, 1, 9)
    assert b.completed and b.job["status"] == jobs.COMPLETED and b.job["completed_ms"] == NOW + 5
    assert all(jobs.is_done(b.job, i) for i in range(10))
    late = jobs.apply_results(b.job, [res(3)], NOW + 9)
    assert not late.completed and late.job is b.job


def test_cancel_keeps_counting_late_rows_but_not_the_status() -> None:
    job = jobs.started(jobs.new_job("t", "email", 3, NOW), NOW)
    job = jobs.apply_results(job, [res(0)], NOW).job
    job = jobs.cancelled(job, NOW + 1)
    assert job["status"] == jobs.CANCELLED and job["completed_ms"] == NOW + 1
    after = jobs.apply_results(job, [res(1), res(2)], NOW + 2)
    assert after.job["processed"] == 3 and after.job["status"] == jobs.CANCELLED
    assert not after.completed
    assert jobs.cancelled(after.job, NOW + 3) is after.job  # cancelling twice changes nothing


def test_an_empty_job_completes_when_started_and_a_failed_one_stays_failed() -> None:
    assert jobs.started(jobs.new_job("t", "ip", 0, NOW), NOW)["status"] == jobs.COMPLETED
    gone = jobs.failed(jobs.new_job("t", "ip", 4, NOW), "file gone", NOW)
    assert gone["status"] == jobs.FAILED and gone["error"] == "file gone"
    assert jobs.started(gone, NOW) is gone and jobs.cancelled(gone, NOW) is gone


# ------------------------------------------------------------------ SQL projection

@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path / 'history.sqlite3'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_dsn"))
    store = open_database(url)
    yield store
    store.close()


def created(job_id: str, total: int, tenant: str = "t") -> dict[str, Any]:
    return {"kind": "created", "job_id": job_id, "tenant": tenant, "ts_ms": NOW,
            "created": {"type": "phone", "column": 0, "total": total, "file_id": "f1"},
            "results": [], "error": None}


def results(job_id: str, rows: list[dict[str, Any]], ts: int = NOW) -> dict[str, Any]:
    return {"kind": "results", "job_id": job_id, "tenant": "t", "ts_ms": ts, "created": None,
            "results": rows, "error": None}


def usage(db: Database, tenant: str = "t") -> tuple[int, int]:
    row = db.write_now(lambda tx: tx.one(
        "SELECT credits, calls FROM usage_daily WHERE tenant = ? AND day = ? AND "
        "step_type = 'bulk_phone'", (tenant, DAY)))
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def test_projection_counts_rows_once_across_replays(db: Database) -> None:
    batch = [created("j1", 1000), results("j1", [res(i, ok=i % 10 != 0) for i in range(600)])]
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, batch, {("bulk", 0): 2}))
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, batch, {("bulk", 0): 2}))  # replayed
    job = db.write_now(lambda tx: sql.get_job(tx, "t", "j1"))
    assert job is not None
    assert (job.status, job.processed, job.failed, job.credits) == ("processing", 540, 60, 540)
    assert usage(db) == (540, 540)
    rest = [results("j1", [res(i) for i in range(590, 1000)], NOW + 7)]
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, rest, {("bulk", 0): 3}))
    job = db.write_now(lambda tx: sql.get_job(tx, "t", "j1"))
    assert job is not None
    assert (job.status, job.processed + job.failed, job.completed_ms) == ("completed", 1000,
                                                                         NOW + 7)
    assert job.credits == 540 + 400 and usage(db) == (940, 940)
    done = db.write_now(lambda tx: sql.job_results(tx, "j1"))
    assert [r[0] for r in done] == list(range(1000))
    assert db.write_now(lambda tx: sql.stored_offsets_of(tx)) == {("bulk", 0): 3}
    assert db.write_now(lambda tx: sql.get_job(tx, "other", "j1")) is None


def test_projection_cancel_keeps_rows_and_status(db: Database) -> None:
    batch = [created("j2", 5), results("j2", [res(0), res(1)]),
             {"kind": "cancel", "job_id": "j2", "tenant": "t", "ts_ms": NOW + 1,
              "created": None, "results": [], "error": None},
             results("j2", [res(2), res(3), res(4)])]
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, batch, {}))
    job = db.write_now(lambda tx: sql.get_job(tx, "t", "j2"))
    assert job is not None
    assert (job.status, job.processed, job.completed_ms) == ("cancelled", 5, NOW + 1)
    assert db.write_now(lambda tx: sql.cancelled_among(tx, ["j2", "nope"])) == {"j2"}
    listed, total = db.write_now(lambda tx: sql.list_jobs(tx, "t", 10, 0))
    assert total == 1 and listed[0].job_id == "j2"
    assert db.write_now(lambda tx: sql.credits_since(tx, "t", "2026-11-01")) == 5


# ------------------------------------------------------------------ retention

def ended_job(db: Database, job_id: str, total: int, completed_ms: int | None,
              file_id: str = "f1") -> None:
    record = created(job_id, total)
    record["created"] = {**record["created"], "file_id": file_id}
    rows = results(job_id, [res(i) for i in range(total)], completed_ms or NOW)
    batch = [record, rows] if completed_ms is not None else [record]
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, batch, {}))


def test_retention_deletes_ended_jobs_and_their_rows_in_batches(db: Database) -> None:
    day = 86_400_000
    ended_job(db, "old1", 3, NOW - 40 * day)
    ended_job(db, "old2", 4, NOW - 35 * day)
    ended_job(db, "recent", 2, NOW - day)
    ended_job(db, "running", 5, None)  # queued, never ended: stays, whatever its age
    cutoff = NOW - 30 * day
    # 3 + 4 rows > 5 per transaction: one job per batch, at least one job each time
    assert db.write_now(lambda tx: sql.expire_jobs(tx, cutoff, rows_per_tx=5)) == 1
    assert db.write_now(lambda tx: sql.expire_jobs(tx, cutoff, rows_per_tx=5)) == 1
    assert db.write_now(lambda tx: sql.expire_jobs(tx, cutoff, rows_per_tx=5)) == 0
    left, total = db.write_now(lambda tx: sql.list_jobs(tx, "t", 10, 0))
    assert sorted(j.job_id for j in left) == ["recent", "running"] and total == 2
    for gone in ("old1", "old2"):
        assert db.write_now(lambda tx, g=gone: sql.job_results(tx, g)) == []
    assert len(db.write_now(lambda tx: sql.job_results(tx, "recent"))) == 2


def test_a_jobs_input_file_is_in_use_while_the_job_is_stored(db: Database) -> None:
    from history import queries

    ended_job(db, "kept", 2, NOW, file_id="file-kept")
    ended_job(db, "old", 2, NOW - 90 * 86_400_000, file_id="file-old")
    in_use = db.write_now(lambda tx: queries.files_in_use(
        tx, "t", ["file-kept", "file-old", "file-unknown"]))
    assert in_use == {"file-kept", "file-old"}
    assert db.write_now(lambda tx: queries.files_in_use(tx, "other", ["file-kept"])) == set()
    db.write_now(lambda tx: sql.expire_jobs(tx, NOW - 30 * 86_400_000))
    assert db.write_now(lambda tx: queries.files_in_use(
        tx, "t", ["file-kept", "file-old"])) == {"file-kept"}


def test_the_bulk_projector_runs_job_retention_on_its_own_partition(tmp_path: Path) -> None:
    """PostgreSQL: the worker holding bulk-control partition 0 expires jobs (not run-events')."""
    from aiokafka import TopicPartition

    from streams.bulk.projector import BulkProjector
    from streams.settings import Settings
    from topics.catalog import Catalog

    catalog = Catalog("app")
    store = open_database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    try:
        projector = BulkProjector(Settings(), catalog, store)
        assert projector.expire is sql.expire_jobs
        projector.group = "g"  # as with PostgreSQL

        class Consumer:
            def __init__(self, *tps: TopicPartition) -> None:
                self.tps = set(tps)

            def assignment(self) -> set[TopicPartition]:
                return self.tps

        projector._consumer = Consumer(TopicPartition(catalog.bulk_control.name, 0))  # type: ignore[assignment]
        assert projector._owns_retention()
        projector._consumer = Consumer(TopicPartition(catalog.run_events.name, 0))  # type: ignore[assignment]
        assert not projector._owns_retention()
    finally:
        store.close()


def test_a_failed_record_carries_its_reason_to_the_sql_job(db: Database) -> None:
    """The `failed` record's error used to be dropped by the Avro schema (no such field)."""
    from schemas import codec
    from streams.bulk.progress import control_record

    raw = control_record("failed", "j9", "t", error="the job's file could not be read: gone")
    record = codec("bulk_control").decode(raw)
    assert record["error"] == "the job's file could not be read: gone"
    db.write_now(lambda tx: sql.apply_bulk_batch(tx, [created("j9", 3), record], {}))
    job = db.write_now(lambda tx: sql.get_job(tx, "t", "j9"))
    assert job is not None and (job.status, job.error) == ("failed", record["error"])


def test_a_job_leaves_the_live_table_an_hour_after_it_ended() -> None:
    job = jobs.new_job("t1", "phone", 2, 1_000)
    assert not jobs.forgettable(job, 10**12, 3_600_000)  # queued: never
    running = jobs.started(job, 2_000)
    assert not jobs.forgettable(running, 10**12, 3_600_000)  # processing: never
    over = jobs.cancelled(running, 5_000)
    assert not jobs.forgettable(over, 5_000 + 3_599_999, 3_600_000)
    assert jobs.forgettable(over, 5_000 + 3_600_000, 3_600_000)
