"""Workflow fan-out jobs: a CSV uploaded to a `fan_out: "rows"` workflow, one run per row.

The job is an ordinary bulk job of type `workflow` (same `created` record,
bulk-rows fan-out, job table, SQL read model and endpoints). Its rows differ in
two places: a row worker LAUNCHES the row (launch() with the idempotency key
`bulk:<job>:<row>`, so a redelivered row names the same run and starts nothing
twice), and the row is counted when its RUN ends: the run carries `bulk: {job,
row}` and the run agent sends one `results` record when it reaches a terminal
state (streams/machine.py bulk_report). A refused launch (a plan limit, a
disabled workflow) is counted at once as a failed row with the refusal's reason.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from steps.documents.rows import MAX_ROWS, RowsError, read_rows
from steps.files import FileError, FileRef, read_bytes
from streams.bulk.fanout import MAX_FILE_BYTES
from streams.bulk.progress import control_record
from streams.engine import Engine, now_ms
from streams.metrics import RUNS_REFUSED
from streams.triggers.admission import plan_of
from streams.triggers.launch import Launch, Refused, launch

TYPE = "workflow"
FAN_OUT = "rows"
TRIGGER = "file_upload"
LAUNCH_CONCURRENCY = 32
CATCH_UP_RETRIES = 5
_JOB_NS = uuid.UUID("0b7e4a52-9d3c-4f0e-8a61-3c2f5e7d9b14")


def job_id_of(tenant: str, workflow_id: str, key: str) -> str:
    """Derived from the upload's idempotency key: a redelivered upload names the same job."""
    return f"job_{uuid.uuid5(_JOB_NS, f'{tenant}/{workflow_id}/{key}').hex}"


def row_key(job_id: str, index: int) -> str:
    return f"bulk:{job_id}:{index}"


def check_plan(engine: Engine, tenant: str, total: int) -> None:
    """Refused 429 when the plan could not start the rows within its per-minute limit.

    A row refused by the limit fails (it is not retried: README, Bulk jobs), so a
    file bigger than a minute's worth of runs would be mostly failed rows; the
    upload is refused up front instead, naming the limit."""
    per_minute = plan_of(engine, tenant).executions_per_minute
    if per_minute is not None and total > per_minute:
        raise Refused(429, f"the file has {total} rows; this plan starts at most {per_minute} "
                           f"runs a minute, so most rows would be refused: send at most "
                           f"{per_minute} rows at a time, or move to a larger plan",
                      field="file", retry_after=60.0, reason="runs_per_minute")


@dataclass(frozen=True)
class Created:
    """A fan-out job sent to bulk-control: its id, row count and the record as decoded."""

    job_id: str
    total: int
    record: dict[str, Any]


async def create(engine: Engine, tenant: str, workflow_id: str, ref: FileRef, *, key: str,
                 actor: str | None) -> Created:
    """Read the CSV (413 over 10,000 rows, 400 empty, naming `file`) and send `created`."""
    try:
        _, data = await read_bytes(engine.files, tenant, ref.file_id, max_bytes=MAX_FILE_BYTES)
        table = read_rows(data, max_rows=MAX_ROWS)
    except RowsError as exc:
        raise Refused(exc.status, str(exc), field=exc.field) from None
    except FileError as exc:
        raise Refused(400, f"the file could not be read back: {exc}", field="file") from None
    total = len(table.rows)
    check_plan(engine, tenant, total)
    job_id = job_id_of(tenant, workflow_id, key)
    created = {"type": TYPE, "column": -1, "total": total, "file_id": ref.file_id}
    raw = control_record("created", job_id, tenant, created=created, workflow_id=workflow_id,
                         actor=actor)
    await engine.bulk_control.send(key=job_id, value=raw)
    return Created(job_id, total, {"job_id": job_id, "tenant": tenant, "ts_ms": now_ms(),
                                   "created": created})


def _failed(index: int, error: str) -> dict[str, Any]:
    return {"index": index, "ok": False,
            "output": orjson.dumps({"run_id": None, "status": "refused", "result": None}
                                   ).decode(),
            "error": error[:500], "credits": 0}


async def launch_rows(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Launch each row's run; the results of rows that started NO run (the others report
    when their runs end)."""
    gate = asyncio.Semaphore(LAUNCH_CONCURRENCY)

    async def one(row: dict[str, Any]) -> dict[str, Any] | None:
        index = row["index"]
        if row["query"] is None or not row.get("workflow_id"):
            return _failed(index, row["error"] or "no row")
        request = Launch(row["tenant"], row["workflow_id"], orjson.loads(row["query"]),
                         TRIGGER, row_key(row["job_id"], index), actor=row.get("actor") or TRIGGER,
                         bulk={"job": row["job_id"], "row": index})
        async with gate:
            for attempt in range(CATCH_UP_RETRIES + 1):
                try:
                    await launch(engine, request)
                    return None
                except Refused as exc:
                    if exc.status == 503 and attempt < CATCH_UP_RETRIES:
                        await asyncio.sleep(1.0)  # the registry replica catching up
                        continue
                    RUNS_REFUSED.labels(exc.reason).inc()
                    detail = f"{exc.status} {exc.message}"
                    if exc.retry_after is not None:
                        detail += f" (retry after {exc.retry_after:g} s)"
                    return _failed(index, detail)
        return None

    done = await asyncio.gather(*(one(row) for row in rows))
    return [r for r in done if r is not None]
