"""Reads of the history store, tenant-scoped; rows come back in the live state's shape.

A run read from here has the same keys as a run in the live table, so the
API presents both with one function and a run looks the same after it left
the live table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from history.database import Tx
from history.projection import HOUR_MS
from schemas import statuses as st

_ACTIVE_SQL = "status IN ('pending', 'running', 'retrying', 'paused')"
COUNT_CAP = 10_000  # counting past this costs more than a total is worth
_RUN_COLUMNS = ("run_id, tenant, workflow_id, workflow_version, trigger_type, status, "
                "current_step, input, result, error, idempotency_key, body_hash, created_ms, "
                "updated_ms, ended_ms, rerun_of")
_STEP_COLUMNS = ("run_id, seq, step_id, step_type, attempt, status, started_ms, ended_ms, "
                 "output, error, request, retryable, error_class")


@dataclass(frozen=True)
class RunFilter:
    tenant: str
    workflow_id: str | None = None
    statuses: Sequence[str] = ()
    from_ms: int | None = None
    to_ms: int | None = None
    run_id: str | None = None
    trigger: str | None = None  # manual, event, test...

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["tenant = ?"], [self.tenant]
        if self.workflow_id is not None:
            clauses.append("workflow_id = ?")
            params.append(self.workflow_id)
        if tuple(self.statuses) == st.ACTIVE:  # constants, matching the runs_active index
            clauses.append(_ACTIVE_SQL)
        elif self.statuses:
            clauses.append(f"status IN ({', '.join('?' * len(self.statuses))})")
            params.extend(self.statuses)
        if self.from_ms is not None:
            clauses.append("created_ms >= ?")
            params.append(self.from_ms)
        if self.to_ms is not None:
            clauses.append("created_ms < ?")
            params.append(self.to_ms)
        if self.run_id is not None:
            clauses.append("run_id = ?")
            params.append(self.run_id)
        if self.trigger is not None:
            clauses.append("trigger_type = ?")
            params.append(self.trigger)
        return " AND ".join(clauses), params


@dataclass
class Page:
    runs: list[dict[str, Any]]
    total: int
    total_capped: bool
    has_more: bool
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _run(row: Sequence[Any]) -> dict[str, Any]:
    (run_id, tenant, workflow_id, version, trigger, status, current, input_, result, error,
     key, body_hash, created, updated, ended, rerun_of) = row
    return {"run_id": run_id, "tenant": tenant, "workflow_id": workflow_id,
            "workflow_version": version, "trigger": trigger, "status": status,
            "current_step": current, "input": input_, "result": result, "error": error,
            "idempotency_key": key, "body_hash": body_hash, "created_ms": created,
            "updated_ms": updated, "ended_ms": ended, "history": [], "cancel_reason": None,
            "rerun_of": rerun_of}


def _step(row: Sequence[Any]) -> dict[str, Any]:
    (_, seq, step_id, step_type, attempt, status, started, ended, output, error, request,
     retryable, error_class) = row
    return {"seq": seq, "step_id": step_id, "step_type": step_type, "attempt": attempt,
            "status": status, "started_ms": started, "ended_ms": ended, "output": output,
            "error": error, "request": request,
            "retryable": None if retryable is None else bool(retryable),
            "error_class": error_class}


def get_run(tx: Tx, tenant: str, run_id: str) -> dict[str, Any] | None:
    """One run with its step executions, or None (also for another tenant's run)."""
    row = tx.one(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ? AND tenant = ?",
                 (run_id, tenant))
    if row is None:
        return None
    run = _run(row)
    run["history"] = [_step(r) for r in tx.all(
        f"SELECT {_STEP_COLUMNS} FROM step_executions WHERE run_id = ? ORDER BY seq, attempt",
        (run_id,))]
    return run


def list_runs(tx: Tx, where: RunFilter, limit: int, offset: int, *, with_steps: bool = False,
              count: bool = True) -> Page:
    """Newest first; `limit + 1` rows tell whether another page exists."""
    sql, params = where.where()
    rows = tx.all(f"SELECT {_RUN_COLUMNS} FROM runs WHERE {sql} "
                  f"ORDER BY created_ms DESC, run_id DESC LIMIT ? OFFSET ?",
                  [*params, limit + 1, offset])
    has_more = len(rows) > limit
    runs = [_run(r) for r in rows[:limit]]
    total, capped = offset + len(runs), False
    if count:
        counted = tx.one(f"SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE {sql} LIMIT ?) AS c",
                         [*params, COUNT_CAP + 1])
        total = int(counted[0]) if counted else 0
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
    page = Page(runs, total, capped, has_more)
    if with_steps and runs:
        ids = [r["run_id"] for r in runs]
        for row in tx.all(f"SELECT {_STEP_COLUMNS} FROM step_executions WHERE run_id IN "
                          f"({', '.join('?' * len(ids))}) ORDER BY run_id, seq, attempt", ids):
            page.steps.setdefault(row[0], []).append(_step(row))
    return page


def active_run_ids(tx: Tx, tenant: str, statuses: Sequence[str], workflow_id: str | None,
                   limit: int) -> list[tuple[str, str]]:
    """(run id, workflow id) of a tenant's runs in `statuses`, oldest first."""
    sql, params = RunFilter(tenant, workflow_id, statuses).where()
    return [(r[0], r[1]) for r in tx.all(
        f"SELECT run_id, workflow_id FROM runs WHERE {sql} ORDER BY created_ms LIMIT ?",
        [*params, limit])]


WINDOWS = (("24h", 24), ("7d", 24 * 7), ("30d", 24 * 30))


def health(tx: Tx, tenant: str, workflow_id: str, now_ms: int) -> dict[str, Any]:
    """Counts per window from the hourly counters (hour granularity) and the last run."""
    this_hour = now_ms - now_ms % HOUR_MS
    cols, params = [], []
    for _, hours in WINDOWS:
        since = this_hour - (hours - 1) * HOUR_MS
        for column in ("started", "completed", "failed", "cancelled", "completed_ms_sum"):
            cols.append(f"SUM(CASE WHEN hour_ms >= ? THEN {column} ELSE 0 END)")
            params.append(since)
    row = tx.one(f"SELECT {', '.join(cols)} FROM run_stats_hourly "
                 f"WHERE tenant = ? AND workflow_id = ? AND hour_ms >= ?",
                 [*params, tenant, workflow_id, this_hour - (24 * 30 - 1) * HOUR_MS])
    values = [int(v or 0) for v in (row or ())] or [0] * (5 * len(WINDOWS))
    windows = {}
    for i, (name, _) in enumerate(WINDOWS):
        started, completed, failed, cancelled, completed_ms = values[i * 5:(i + 1) * 5]
        windows[name] = {"started": started, "completed": completed, "failed": failed,
                         "cancelled": cancelled, "completed_ms_sum": completed_ms}
    last = tx.one("SELECT last_run_ms, last_status, last_error, last_error_ms "
                  "FROM workflow_stats WHERE tenant = ? AND workflow_id = ?",
                  (tenant, workflow_id))
    last_run_ms, last_status, last_error, last_error_ms = last or (None, None, None, None)
    return {"windows": windows, "last_run_ms": last_run_ms, "last_status": last_status,
            "last_error": last_error, "last_error_ms": last_error_ms,
            "hourly": hourly(tx, tenant, workflow_id, now_ms)}


def hourly(tx: Tx, tenant: str, workflow_id: str, now_ms: int, hours: int = 24
           ) -> list[dict[str, int]]:
    """Runs per hour over the last `hours` hours (this one included), oldest first.

    For the console's chart: one bucket per hour, also the empty ones, so a client
    draws it as it comes. Read from the hourly counters the projector keeps (their
    primary key is the index): `hours` rows at most, never a scan of the runs.
    A bucket counts the runs created in that hour by how they ended so far
    (cancelled includes terminated); started minus the ended ones are still active.
    """
    this_hour = now_ms - now_ms % HOUR_MS
    since = this_hour - (hours - 1) * HOUR_MS
    found = {int(r[0]): r[1:] for r in tx.all(
        "SELECT hour_ms, started, completed, failed, cancelled FROM run_stats_hourly "
        "WHERE tenant = ? AND workflow_id = ? AND hour_ms >= ? ORDER BY hour_ms",
        (tenant, workflow_id, since))}
    buckets = []
    for i in range(hours):
        hour = since + i * HOUR_MS
        started, completed, failed, cancelled = (int(v or 0) for v in found.get(hour, (0,) * 4))
        buckets.append({"hour_ms": hour, "started": started, "completed": completed,
                        "failed": failed, "cancelled": cancelled})
    return buckets


def list_audit(tx: Tx, tenant: str, workflow_id: str, limit: int, offset: int
               ) -> tuple[list[dict[str, Any]], int, bool]:
    """A workflow's audit rows newest first, the (capped) total, and whether more exist."""
    key = (tenant, workflow_id)
    rows = tx.all("SELECT ts_ms, action, actor, version, detail, event_id FROM workflow_audit "
                  "WHERE tenant = ? AND workflow_id = ? ORDER BY ts_ms DESC, event_id DESC "
                  "LIMIT ? OFFSET ?", [*key, limit + 1, offset])
    counted = tx.one("SELECT COUNT(*) FROM (SELECT 1 FROM workflow_audit WHERE tenant = ? AND "
                     "workflow_id = ? LIMIT ?) AS c", [*key, COUNT_CAP + 1])
    total = min(int(counted[0]) if counted else 0, COUNT_CAP)
    return ([{"ts_ms": r[0], "action": r[1], "actor": r[2], "version": r[3],
              "detail": orjson.loads(r[4]) if r[4] else None, "id": r[5]} for r in rows[:limit]],
            total, len(rows) > limit)


def usage(tx: Tx, tenant: str, first_day: str, last_day: str) -> list[tuple[str, str, int, int]]:
    """(day, step type, credits, calls) of a tenant from first_day to last_day (inclusive)."""
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in tx.all(
        "SELECT day, step_type, credits, calls FROM usage_daily WHERE tenant = ? AND "
        "day >= ? AND day <= ? ORDER BY day, step_type", (tenant, first_day, last_day))]


def files_in_use(tx: Tx, tenant: str, file_ids: Sequence[str]) -> set[str]:
    """Which of these files a run in history names, or a bulk job in the store reads.

    File retention keeps those: a bulk job's download reads its input file again, so
    the file stays as long as the job (history/bulk.py expire_jobs removes old jobs).
    """
    found: set[str] = set()
    for start in range(0, len(file_ids), 500):
        chunk = list(file_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        found |= {row[0] for row in tx.all(
            f"SELECT DISTINCT file_id FROM run_files WHERE tenant = ? AND file_id IN ({marks}) "
            f"UNION SELECT file_id FROM bulk_jobs WHERE tenant = ? AND file_id IN ({marks})",
            (tenant, *chunk, tenant, *chunk))}
    return found
