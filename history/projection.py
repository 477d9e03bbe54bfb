"""Run events -> rows. Every write is idempotent, so a replayed batch changes nothing.

A run's events arrive in order (one partition per run), each with a sequence
number; an update applies only when its sequence is newer than the row's,
and counters move only when a row really changed state. Offsets are written
in the caller's transaction, next to the rows they produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from history.database import Tx
from schemas import run_events as ev
from schemas import statuses as st
from schemas import workflow_events as we

HOUR_MS = 3600 * 1000
_TERMINAL_SQL = "('completed', 'failed', 'cancelled', 'terminated')"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COUNTER = {st.COMPLETED: "completed", st.FAILED: "failed", st.CANCELLED: "cancelled",
            st.TERMINATED: "cancelled"}


@dataclass(frozen=True)
class WorkflowDeleted:
    """A workflow was deleted: its run history goes with it (reference 000)."""

    tenant: str
    workflow_id: str
    ts_ms: int


Record = dict[str, Any] | WorkflowDeleted  # a decoded run event, or a workflow deletion


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


# Events that only move a run's row (status, current step, updated time): a later
# row update of the same run in the batch overwrites every column they write.
_TOUCHES = {ev.STEP_COMPLETED: st.RUNNING, ev.STEP_FAILED: st.RUNNING,
            ev.RUN_RETRYING: st.RETRYING, ev.RUN_PAUSED: st.PAUSED, ev.RUN_RESUMED: st.RUNNING}
_ROW_UPDATES = {*_TOUCHES, ev.RUN_COMPLETED, ev.RUN_FAILED, ev.RUN_CANCELLED,
                ev.RUN_TERMINATED, ev.RUN_DELETED}


def apply_batch(tx: Tx, records: Iterable[Record], offsets: dict[tuple[str, int], int]) -> int:
    """Project records in order and store the next offsets; returns how many rows changed.

    Under load a batch holds most of a run's life; a row update that a later event
    of the same run overwrites is skipped (it was most of the store's write cost:
    every status update rewrites three indexes).
    """
    batch = list(records)
    superseded: set[int] = set()
    later: set[str] = set()
    for i in range(len(batch) - 1, -1, -1):
        record = batch[i]
        if isinstance(record, WorkflowDeleted) or record["type"] not in _ROW_UPDATES:
            continue
        if record["type"] in _TOUCHES and record["subject"] in later:
            superseded.add(i)
        later.add(record["subject"])
    changed = 0
    pending = _Pending()
    for i, record in enumerate(batch):
        if isinstance(record, WorkflowDeleted):
            pending.flush(tx)  # the deletion takes the counters written so far with it
            changed += delete_workflow(tx, record)
        elif record["type"] in we.TYPES:
            changed += _audit(tx, record, record["type"].removeprefix("workflow."),
                              record["data"].get("actor"))
            if record["type"] == we.DELETED:
                pending.flush(tx)
                changed += delete_workflow(tx, WorkflowDeleted(
                    record["tenant"], record["workflowid"], _ms(record)))
        elif i in superseded:
            if record["type"] in (ev.STEP_COMPLETED, ev.STEP_FAILED):
                changed += _step_row(tx, record, pending)
        else:
            changed += apply_event(tx, record, pending)
    pending.flush(tx)
    store_offsets(tx, offsets)
    return changed


def store_offsets(tx: Tx, offsets: dict[tuple[str, int], int]) -> None:
    """The next offsets to read, in the batch's own transaction (no gap, no repeat)."""
    for (topic, partition), next_offset in offsets.items():
        tx.execute("INSERT INTO projector_offsets (topic, kafka_partition, next_offset) "
                   "VALUES (?, ?, ?) ON CONFLICT (topic, kafka_partition) "
                   "DO UPDATE SET next_offset = excluded.next_offset",
                   (topic, partition, next_offset))


def stored_offsets(tx: Tx, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    wanted = set(topics)
    return {(t, p): o for t, p, o in tx.all(
        "SELECT topic, kafka_partition, next_offset FROM projector_offsets")
        if t in wanted}


class _Pending:
    """A batch's counter and workflow-stats updates, merged and written once at its end.

    Per run they were four of the store's statements; per batch they are a few.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int, str], list[int]] = {}
        self.last_run: dict[tuple[str, str], int] = {}
        self.last_end: dict[tuple[str, str], tuple[str, str | None, int | None]] = {}
        self.usage: dict[tuple[str, str, str], list[int]] = {}

    def used(self, tenant: str, day: str, step_type: str, credits: int) -> None:
        """One I/O step call (and the credits it billed) on a UTC day."""
        entry = self.usage.setdefault((tenant, day, step_type), [0, 0])
        entry[0] += credits
        entry[1] += 1

    def count(self, tenant: str, workflow_id: str, created_ms: int, column: str,
              duration_ms: int, delta: int = 1) -> None:
        key = (tenant, workflow_id, created_ms - created_ms % HOUR_MS, column)
        entry = self.counts.setdefault(key, [0, 0])
        entry[0] += delta
        entry[1] += duration_ms * delta

    def started(self, tenant: str, workflow_id: str, created_ms: int) -> None:
        key = (tenant, workflow_id)
        self.last_run[key] = max(created_ms, self.last_run.get(key, created_ms))

    def ended(self, tenant: str, workflow_id: str, status: str, error: str | None,
              error_ms: int | None) -> None:
        key = (tenant, workflow_id)
        if error_ms is None and key in self.last_end:  # keep the batch's last error
            _, error, error_ms = self.last_end[key]
        self.last_end[key] = (status, error, error_ms)

    def flush(self, tx: Tx) -> None:
        for (tenant, workflow_id, hour, column), (delta, ms) in self.counts.items():
            if delta or ms:
                tx.execute(
                    f"INSERT INTO run_stats_hourly (tenant, workflow_id, hour_ms, {column}, "
                    f"completed_ms_sum) VALUES (?, ?, ?, ?, ?) "
                    f"ON CONFLICT (tenant, workflow_id, hour_ms) DO UPDATE SET "
                    f"{column} = run_stats_hourly.{column} + excluded.{column}, "
                    f"completed_ms_sum = run_stats_hourly.completed_ms_sum + "
                    f"excluded.completed_ms_sum", (tenant, workflow_id, hour, delta, ms))
        for (tenant, workflow_id), created in self.last_run.items():
            tx.execute(
                "INSERT INTO workflow_stats (tenant, workflow_id, last_run_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant, workflow_id) DO UPDATE SET last_run_ms = CASE WHEN "
                "workflow_stats.last_run_ms IS NULL OR excluded.last_run_ms > "
                "workflow_stats.last_run_ms THEN excluded.last_run_ms "
                "ELSE workflow_stats.last_run_ms END", (tenant, workflow_id, created))
        for (tenant, workflow_id), (status, error, error_ms) in self.last_end.items():
            tx.execute(
                "INSERT INTO workflow_stats (tenant, workflow_id, last_status, last_error, "
                "last_error_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, workflow_id) "
                "DO UPDATE SET last_status = excluded.last_status, "
                "last_error = COALESCE(excluded.last_error, workflow_stats.last_error), "
                "last_error_ms = COALESCE(excluded.last_error_ms, workflow_stats.last_error_ms)",
                (tenant, workflow_id, status, error, error_ms))
        for (tenant, day, step_type), (credits, calls) in self.usage.items():
            tx.execute(
                "INSERT INTO usage_daily (tenant, day, step_type, credits, calls) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, day, step_type) DO UPDATE SET "
                "credits = usage_daily.credits + excluded.credits, "
                "calls = usage_daily.calls + excluded.calls",
                (tenant, day, step_type, credits, calls))
        self.counts.clear()
        self.last_run.clear()
        self.last_end.clear()
        self.usage.clear()


def apply_event(tx: Tx, event: dict[str, Any], pending: _Pending | None = None) -> int:
    """Project one event; `pending` collects its counters (written at once without it)."""
    if pending is None:
        pending = _Pending()
        changed = apply_event(tx, event, pending)
        pending.flush(tx)
        return changed
    kind = event["type"]
    if kind == ev.RUN_STARTED:
        return _started(tx, event, pending)
    if kind in (ev.STEP_COMPLETED, ev.STEP_FAILED):
        return _step_row(tx, event, pending) + _touch(tx, event, st.RUNNING)
    if kind in _TOUCHES:
        return _touch(tx, event, _TOUCHES[kind])
    if kind in (ev.RUN_COMPLETED, ev.RUN_FAILED, ev.RUN_CANCELLED, ev.RUN_TERMINATED):
        return _ended(tx, event, pending)
    if kind == ev.RUN_DELETED:
        return delete_run(tx, event["tenant"], event["subject"], pending)
    if kind == ev.USAGE_RECORDED:
        return _usage(event, pending)
    return 0  # a type from a newer producer: nothing to project


def _started(tx: Tx, event: dict[str, Any], pending: _Pending) -> int:
    data, tenant, workflow_id = event["data"], event["tenant"], event["workflowid"]
    created = data["createdMs"]
    deleted = tx.one("SELECT deleted_ms FROM deleted_workflows WHERE tenant = ? AND "
                     "workflow_id = ?", (tenant, workflow_id))
    if deleted is not None and created <= deleted[0]:
        return 0
    inserted = tx.execute(
        "INSERT INTO runs (run_id, tenant, workflow_id, workflow_version, trigger_type, status, "
        "input, idempotency_key, body_hash, created_ms, updated_ms, event_seq, rerun_of) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
        (event["subject"], tenant, workflow_id, event["workflowversion"], data["trigger"],
         st.RUNNING, _json(data["input"]), data.get("idempotencyKey"), data.get("bodyHash"),
         created, created, event["sequence"], data.get("rerunOf")))
    if inserted:
        for file_id in file_ids(data["input"]):
            tx.execute("INSERT INTO run_files (tenant, file_id, run_id) VALUES (?, ?, ?) "
                       "ON CONFLICT (tenant, file_id, run_id) DO NOTHING",
                       (tenant, file_id, event["subject"]))
    if inserted and data["trigger"] != ev.TEST_TRIGGER:  # test runs stay out of health
        pending.count(tenant, workflow_id, created, "started", 0)
        pending.started(tenant, workflow_id, created)
        _audit(tx, event, "ran", data.get("actor"), {"runId": event["subject"],
                                                     "trigger": data["trigger"]})
    return inserted


def file_ids(value: Any, depth: int = 0) -> set[str]:
    """The `fileId`s a run's input names (`input.attachment.fileId`, `input.fileId`, ...).

    Two levels deep: where attachments and file_upload triggers put their references.
    Only canonical UUIDs count (what a file store names a file by)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("fileId", "file_id") and isinstance(item, str) and _UUID.fullmatch(item):
                found.add(item)
            elif depth < 2 and isinstance(item, dict | list):
                found |= file_ids(item, depth + 1)
    elif isinstance(value, list) and depth < 2:
        for item in value[:100]:
            found |= file_ids(item, depth + 1)
    return found


def _audit(tx: Tx, event: dict[str, Any], action: str, actor: str | None,
           detail: dict[str, Any] | None = None) -> int:
    """One audit row per event (its id is the key: a replay inserts nothing)."""
    if detail is None:
        detail = {k: v for k, v in event["data"].items() if k not in ("actor", "op")}
    return tx.execute(
        "INSERT INTO workflow_audit (event_id, tenant, workflow_id, ts_ms, action, actor, "
        "version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        (event["id"], event["tenant"], event["workflowid"], _ms(event), action, actor,
         event["workflowversion"], _json(detail)))


def _step_row(tx: Tx, event: dict[str, Any], pending: _Pending) -> int:
    """A step event's row, and its usage when the row really changed (a replay counts none).

    Only I/O step events carry `credits` (streams/machine.py); each is one call.
    """
    data = event["data"]
    changed = _step(tx, event["subject"], data)
    if changed and "credits" in data:
        pending.used(event["tenant"], utc_day(data.get("endedMs") or _ms(event)),
                     data["stepType"], int(data["credits"] or 0))
    return changed


def _usage(event: dict[str, Any], pending: _Pending) -> int:
    """Credits billed outside runs (inline bulk): added as they are, on the event's UTC day.

    No row names the event, so its idempotency is the batch's: offsets are stored in the
    same transaction, and a replay starts after them. A malformed one counts nothing.
    """
    data = event["data"]
    step_type, credits, calls = data.get("stepType"), data.get("credits"), data.get("calls")
    if not isinstance(step_type, str) or not step_type or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (credits, calls)):
        return 0
    entry = pending.usage.setdefault((event["tenant"], utc_day(_ms(event)), step_type), [0, 0])
    entry[0] += credits
    entry[1] += calls
    return 1


def utc_day(ms: int) -> str:
    """YYYY-MM-DD (UTC) of an epoch-ms time: the usage table's day."""
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _step(tx: Tx, run_id: str, data: dict[str, Any]) -> int:
    retryable = data.get("retryable")
    return tx.execute(
        "INSERT INTO step_executions (run_id, seq, attempt, step_id, step_type, status, "
        "started_ms, ended_ms, output, error, request, retryable, error_class) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
        "(SELECT 1 FROM runs WHERE run_id = ?) "
        "ON CONFLICT (run_id, seq, attempt) DO UPDATE SET status = excluded.status, "
        "started_ms = excluded.started_ms, ended_ms = excluded.ended_ms, "
        "output = excluded.output, error = excluded.error, request = excluded.request, "
        "retryable = excluded.retryable, error_class = excluded.error_class "
        "WHERE step_executions.status <> excluded.status",
        (run_id, data["seq"], data["attempt"], data["stepId"], data["stepType"], data["status"],
         data["startedMs"], data["endedMs"], _json(data.get("output")), data.get("error"),
         _json(data.get("request")), None if retryable is None else int(retryable),
         data.get("errorClass"), run_id))


def _touch(tx: Tx, event: dict[str, Any], status: str) -> int:
    """A non-terminal transition: the run's status and current step."""
    data = event["data"]
    return tx.execute(
        f"UPDATE runs SET status = ?, current_step = ?, updated_ms = ?, event_seq = ? "
        f"WHERE run_id = ? AND event_seq < ? AND status NOT IN {_TERMINAL_SQL}",
        (status, data.get("stepId"), _ms(event), event["sequence"], event["subject"],
         event["sequence"]))


def _ended(tx: Tx, event: dict[str, Any], pending: _Pending) -> int:
    data, run_id = event["data"], event["subject"]
    if data.get("step") is not None:
        _step(tx, run_id, data["step"])
    status = data["status"]
    updated = tx.execute(
        f"UPDATE runs SET status = ?, current_step = NULL, result = ?, error = ?, "
        f"ended_ms = ?, updated_ms = ?, event_seq = ? "
        f"WHERE run_id = ? AND event_seq < ? AND status NOT IN {_TERMINAL_SQL}",
        (status, _json(data.get("result")), data.get("error"), data["endedMs"],
         data["endedMs"], event["sequence"], run_id, event["sequence"]))
    if updated and not data.get("test"):
        tenant, workflow_id = event["tenant"], event["workflowid"]
        duration = data["durationMs"] if status == st.COMPLETED else 0
        pending.count(tenant, workflow_id, data["createdMs"], _COUNTER[status], duration)
        error_ms = data["endedMs"] if status == st.FAILED else None
        pending.ended(tenant, workflow_id, status, data.get("error") if error_ms else None,
                      error_ms)
    return updated


def delete_run(tx: Tx, tenant: str, run_id: str, pending: _Pending | None = None) -> int:
    """Remove an ended run and take it out of the health counters."""
    if pending is None:
        pending = _Pending()
        removed = delete_run(tx, tenant, run_id, pending)
        pending.flush(tx)
        return removed
    row = tx.one("SELECT workflow_id, status, created_ms, ended_ms, trigger_type FROM runs "
                 "WHERE run_id = ? AND tenant = ?", (run_id, tenant))
    if row is None:
        return 0
    workflow_id, status, created, ended, trigger = row
    if trigger == ev.TEST_TRIGGER:  # never counted
        status = None
    else:
        pending.count(tenant, workflow_id, created, "started", 0, delta=-1)
    if status in _COUNTER:
        duration = (ended - created) if status == st.COMPLETED else 0
        pending.count(tenant, workflow_id, created, _COUNTER[status], duration, delta=-1)
    tx.execute("DELETE FROM step_executions WHERE run_id = ?", (run_id,))
    tx.execute("DELETE FROM run_files WHERE run_id = ?", (run_id,))
    return tx.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


def delete_workflow(tx: Tx, deleted: WorkflowDeleted) -> int:
    key = (deleted.tenant, deleted.workflow_id)
    tx.execute("INSERT INTO deleted_workflows (tenant, workflow_id, deleted_ms) "
               "VALUES (?, ?, ?) ON CONFLICT (tenant, workflow_id) "
               "DO UPDATE SET deleted_ms = excluded.deleted_ms", (*key, deleted.ts_ms))
    tx.execute("DELETE FROM step_executions WHERE run_id IN (SELECT run_id FROM runs "
               "WHERE tenant = ? AND workflow_id = ?)", key)
    tx.execute("DELETE FROM run_files WHERE run_id IN (SELECT run_id FROM runs "
               "WHERE tenant = ? AND workflow_id = ?)", key)
    removed = tx.execute("DELETE FROM runs WHERE tenant = ? AND workflow_id = ?", key)
    tx.execute("DELETE FROM run_stats_hourly WHERE tenant = ? AND workflow_id = ?", key)
    tx.execute("DELETE FROM workflow_stats WHERE tenant = ? AND workflow_id = ?", key)
    return removed


def expire(tx: Tx, before_ms: int, batch: int = 5000) -> int:
    """Delete up to `batch` runs that ended before `before_ms` (retention), with their steps."""
    ids = [r[0] for r in tx.all("SELECT run_id FROM runs WHERE ended_ms < ? LIMIT ?",
                                (before_ms, batch))]
    if not ids:
        return 0
    marks = ", ".join("?" * len(ids))
    tx.execute(f"DELETE FROM step_executions WHERE run_id IN ({marks})", ids)
    tx.execute(f"DELETE FROM run_files WHERE run_id IN ({marks})", ids)
    removed = tx.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", ids)
    tx.execute("DELETE FROM run_stats_hourly WHERE hour_ms < ?", (before_ms - HOUR_MS,))
    return removed


def _ms(event: dict[str, Any]) -> int:
    return ev.parse_time(event["time"])
