"""The bulk-progress agent: owns the `bulk_jobs` table, keyed (and partitioned) by job id.

It reads bulk-control: `created` fans the rows out (streams/bulk/fanout.py),
`results` batches count rows once each (streams/bulk/jobs.py), `cancel` stops
the job. One table write per record, never per row. A job that completes or
fails emits its CloudEvent before the table write, so a crash in between
re-emits the same event id (deduplicated by the webhook deliverer) instead of
losing it.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas import DecodeError, codec
from streams import metrics
from streams.bulk import events, jobs
from streams.bulk.fanout import FanOutFailed, produce_rows
from streams.engine import Engine, now_ms

log = logging.getLogger(__name__)
CONTROL = codec("bulk_control")
FORGET = "forget"  # a finished job leaves the live table (the SQL read model keeps it)
FORGET_AFTER_MS = 3_600_000
FORGET_EVERY_SECONDS = 60.0
ACTIVE_EVERY_SECONDS = 2.0


def control_record(kind: str, job_id: str, tenant: str, *, created: dict[str, Any] | None = None,
                   results: list[dict[str, Any]] | None = None,
                   error: str | None = None, workflow_id: str | None = None,
                   actor: str | None = None) -> bytes:
    return CONTROL.encode({"kind": kind, "job_id": job_id, "tenant": tenant, "ts_ms": now_ms(),
                           "created": created, "results": results or [], "error": error,
                           "workflow_id": workflow_id, "actor": actor})


def _count_rows(before: jobs.Job, after: jobs.Job) -> None:
    """hopflow_bulk_rows_total: the rows this results record counted for the first time
    (apply_results ignores a redelivered row, so the metric does too)."""
    kind = after["type"]
    for outcome, field in (("processed", "processed"), ("failed", "failed")):
        new = after[field] - before[field]
        if new > 0:
            metrics.BULK_ROWS.labels(kind, outcome).inc(new)


def register(engine: Engine) -> Any:
    table = engine._table("bulk_jobs", "bulk_job")

    async def emit(job_id: str, job: jobs.Job) -> None:
        await engine.run_events.send(key=job_id, value=events.encode(job_id, job, now_ms()))

    async def on_created(job_id: str, cmd: dict[str, Any], job: jobs.Job | None) -> jobs.Job:
        created = cmd["created"]
        if job is not None and job["status"] != jobs.QUEUED:
            return job  # a redelivered `created`: the rows are out already
        job = job or jobs.new_job(cmd["tenant"], created["type"], created["total"],
                                  cmd["ts_ms"])
        try:
            await produce_rows(engine, job_id, cmd["tenant"], created,
                               workflow_id=cmd.get("workflow_id"), actor=cmd.get("actor"))
        except FanOutFailed as exc:
            job = jobs.failed(job, str(exc), now_ms())
            await emit(job_id, job)
            await engine.bulk_control.send(key=job_id, value=control_record(
                "failed", job_id, cmd["tenant"], error=str(exc)))  # for the SQL read model
            return job
        job = jobs.started(job, now_ms())
        if job["status"] == jobs.COMPLETED:
            await emit(job_id, job)
        return job

    @engine.app.agent(engine.bulk_control, name="bulk-progress")
    async def bulk_progress(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                cmd = CONTROL.decode(event.value)
            except DecodeError as exc:
                await engine.dead_letter(event, f"bad bulk-control record: {exc}",
                                         kind="decode")
                continue
            job_id = cmd["job_id"]
            job = table.get(job_id)
            kind = cmd["kind"]
            new: jobs.Job | None = job
            if kind == "created" and cmd["created"] is not None:
                new = await on_created(job_id, cmd, job)
            elif job is None:
                continue  # results or cancel of a job this table never had
            elif kind == "results":
                applied = jobs.apply_results(job, cmd["results"], now_ms())
                _count_rows(job, applied.job)
                if applied.completed:
                    await emit(job_id, applied.job)
                new = applied.job
            elif kind == "cancel":
                new = jobs.cancelled(job, now_ms())
            elif kind == FORGET:
                if jobs.forgettable(job, now_ms(), FORGET_AFTER_MS):
                    del table[job_id]
                continue
            if new is not job and new is not None:
                table[job_id] = new

    @engine.app.timer(interval=ACTIVE_EVERY_SECONDS, name="bulk-active-gauge")
    async def count_active() -> None:
        """hopflow_bulk_jobs_active: the live table holds running jobs and a few recent
        ones (see bulk-forget), so a scan every few seconds is cheap and off the row path."""
        metrics.BULK_JOBS_ACTIVE.set(sum(
            1 for job in list(table.values()) if job["status"] in (jobs.QUEUED, jobs.PROCESSING)))

    forgetting: set[str] = set()

    @engine.app.timer(interval=FORGET_EVERY_SECONDS, name="bulk-forget")
    async def forget_finished() -> None:
        """Ask the agent (the table's only writer) to drop jobs long over, so the live
        table holds running jobs, not every job ever (about 1.3 KB each)."""
        if not engine.ready:
            return
        now = now_ms()
        for job_id, job in list(table.items()):
            if job_id not in forgetting and jobs.forgettable(job, now, FORGET_AFTER_MS):
                forgetting.add(job_id)
                await engine.bulk_control.send(key=job_id, value=control_record(
                    FORGET, job_id, job["tenant"]))
        forgetting.intersection_update(table.keys())

    return table
