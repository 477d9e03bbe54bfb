"""Bulk jobs' SQL read model: bulk-control records -> bulk_jobs and bulk_results rows.

Every write is idempotent, so a replayed batch changes nothing: a job row is
inserted once, and a row result is inserted once per (job, row) (the primary
key); the job's counters, credits and the tenant's `usage_daily` move only by
what the insert really added (`RETURNING`, on SQLite and PostgreSQL alike).
Offsets are written in the caller's transaction, next to the rows they produced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from history.database import Tx
from history.projection import store_offsets

TERMINAL_SQL = "('completed', 'failed', 'cancelled')"
INSERT_CHUNK = 400  # rows per INSERT ... VALUES (6 parameters each, under SQLite's cap)
COLUMNS = ("job_id, tenant, lookup_type, status, total, processed, failed, credits, error, "
           "created_ms, completed_ms, column_index, file_id")


@dataclass(frozen=True)
class BulkJobRow:
    job_id: str
    tenant: str
    type: str
    status: str
    total: int
    processed: int
    failed: int
    credits: int
    error: str | None
    created_ms: int
    completed_ms: int | None
    column: int
    file_id: str


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def apply_bulk_batch(tx: Tx, records: Iterable[dict[str, Any]],
                     offsets: dict[tuple[str, int], int]) -> int:
    """Project bulk-control records in order and store the next offsets; rows changed."""
    changed = 0
    for record in records:
        kind = record["kind"]
        if kind == "created":
            changed += created(tx, record)
        elif kind == "results":
            changed += results(tx, record)
        elif kind == "cancel":
            changed += ended(tx, record["job_id"], "cancelled", None, record["ts_ms"])
        elif kind == "failed":
            changed += ended(tx, record["job_id"], "failed", record.get("error"),
                             record["ts_ms"])
    store_offsets(tx, offsets)
    return changed


def created(tx: Tx, record: dict[str, Any]) -> int:
    job = record["created"]
    return tx.execute(
        "INSERT INTO bulk_jobs (job_id, tenant, lookup_type, status, total, column_index, "
        "file_id, created_ms) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?) "
        "ON CONFLICT (job_id) DO NOTHING",
        (record["job_id"], record["tenant"], job["type"], job["total"], job["column"],
         job["file_id"], record["ts_ms"]))


def results(tx: Tx, record: dict[str, Any]) -> int:
    job_id = record["job_id"]
    job = tx.one("SELECT lookup_type, tenant FROM bulk_jobs WHERE job_id = ?", (job_id,))
    if job is None:
        return 0  # a job this store never saw created (deleted store mid-way): nothing to add
    lookup_type, tenant = job
    added: list[tuple[Any, ...]] = []
    rows = record["results"]
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        params: list[Any] = []
        for r in chunk:
            params += [job_id, r["index"], 1 if r["ok"] else 0, r.get("output"), r.get("error"),
                       max(0, int(r.get("credits") or 0))]
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        added += tx.all(
            f"INSERT INTO bulk_results (job_id, row_index, ok, output, error, credits) VALUES "
            f"{values} ON CONFLICT (job_id, row_index) DO NOTHING RETURNING ok, credits", params)
    if not added:
        return 0
    ok = sum(1 for row in added if row[0])
    credits = sum(int(row[1]) for row in added)
    tx.execute(
        f"UPDATE bulk_jobs SET processed = processed + ?, failed = failed + ?, "
        f"credits = credits + ?, "
        f"status = CASE WHEN status IN {TERMINAL_SQL} THEN status "
        f"WHEN processed + failed + ? >= total THEN 'completed' ELSE 'processing' END, "
        f"completed_ms = CASE WHEN status NOT IN {TERMINAL_SQL} AND "
        f"processed + failed + ? >= total THEN ? ELSE completed_ms END WHERE job_id = ?",
        (ok, len(added) - ok, credits, len(added), len(added), record["ts_ms"], job_id))
    lookups = sum(1 for row in added if int(row[1]) > 0)
    if not credits and not lookups:
        return len(added)  # nothing billed (a workflow fan-out's runs bill their own steps)
    tx.execute(
        "INSERT INTO usage_daily (tenant, day, step_type, credits, calls) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, day, step_type) DO UPDATE SET "
        "credits = usage_daily.credits + excluded.credits, "
        "calls = usage_daily.calls + excluded.calls",
        (tenant, _day(record["ts_ms"]), f"bulk_{lookup_type}", credits, lookups))
    return len(added)


def ended(tx: Tx, job_id: str, status: str, error: str | None, ts_ms: int) -> int:
    return tx.execute(
        f"UPDATE bulk_jobs SET status = ?, error = COALESCE(?, error), completed_ms = ? "
        f"WHERE job_id = ? AND status NOT IN {TERMINAL_SQL}", (status, error, ts_ms, job_id))


RETENTION_ROWS_PER_TX = 50_000  # result rows one retention transaction may delete
RETENTION_JOBS_PER_TX = 500


def expire_jobs(tx: Tx, before_ms: int, rows_per_tx: int = RETENTION_ROWS_PER_TX) -> int:
    """Delete jobs that ended before `before_ms` (run history's retention), with their rows.

    Batched like history.projection.expire, but by result rows rather than jobs: a
    10,000-row job is 10,000 deletes, so a transaction takes jobs until their rows
    reach `rows_per_tx` (at least one job). Returns the jobs deleted (0: nothing left).
    A job still queued or processing stays, and with it its input file (files_in_use).
    """
    found = tx.all(f"SELECT job_id, total FROM bulk_jobs WHERE completed_ms < ? AND "
                   f"status IN {TERMINAL_SQL} ORDER BY completed_ms LIMIT ?",
                   (before_ms, RETENTION_JOBS_PER_TX))
    ids: list[str] = []
    rows = 0
    for job_id, total in found:
        if ids and rows + int(total) > rows_per_tx:
            break
        ids.append(job_id)
        rows += int(total)
    if not ids:
        return 0
    marks = ", ".join("?" * len(ids))
    tx.execute(f"DELETE FROM bulk_results WHERE job_id IN ({marks})", ids)
    return tx.execute(f"DELETE FROM bulk_jobs WHERE job_id IN ({marks})", ids)


# ------------------------------------------------------------------ queries

def _row(row: tuple[Any, ...]) -> BulkJobRow:
    return BulkJobRow(*row)


def get_job(tx: Tx, tenant: str, job_id: str) -> BulkJobRow | None:
    row = tx.one(f"SELECT {COLUMNS} FROM bulk_jobs WHERE job_id = ? AND tenant = ?",
                 (job_id, tenant))
    return None if row is None else _row(row)


def list_jobs(tx: Tx, tenant: str, limit: int, offset: int) -> tuple[list[BulkJobRow], int]:
    rows = tx.all(f"SELECT {COLUMNS} FROM bulk_jobs WHERE tenant = ? "
                  f"ORDER BY created_ms DESC, job_id DESC LIMIT ? OFFSET ?",
                  (tenant, limit, offset))
    total = tx.one("SELECT COUNT(*) FROM bulk_jobs WHERE tenant = ?", (tenant,))
    return [_row(r) for r in rows], int(total[0]) if total else 0


def job_results(tx: Tx, job_id: str) -> list[tuple[int, bool, str | None, str | None]]:
    """(row index, ok, output JSON, error) of every row done, in row order."""
    return [(int(i), bool(ok), out, err) for i, ok, out, err in tx.all(
        "SELECT row_index, ok, output, error FROM bulk_results WHERE job_id = ? "
        "ORDER BY row_index", (job_id,))]


def cancelled_among(tx: Tx, job_ids: list[str]) -> set[str]:
    if not job_ids:
        return set()
    marks = ", ".join("?" * len(job_ids))
    return {r[0] for r in tx.all(
        f"SELECT job_id FROM bulk_jobs WHERE job_id IN ({marks}) AND status = 'cancelled'",
        job_ids)}


def credits_since(tx: Tx, tenant: str, first_day: str) -> int:
    """Credits the tenant used from `first_day` (YYYY-MM-DD, UTC) on: the plan cap's base."""
    row = tx.one("SELECT COALESCE(SUM(credits), 0) FROM usage_daily WHERE tenant = ? AND "
                 "day >= ?", (tenant, first_day))
    return int(row[0]) if row else 0


def stored_offsets_of(tx: Tx) -> dict[tuple[str, int], int]:
    """Every stored projector offset (tests)."""
    return {(t, p): o for t, p, o in tx.all(
        "SELECT topic, kafka_partition, next_offset FROM projector_offsets")}
