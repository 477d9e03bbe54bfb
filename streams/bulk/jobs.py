"""A bulk job's state machine, as pure functions over the `bulk_jobs` table's value.

The progress agent (streams/bulk/agents.py) applies one bulk-control record
per call and writes the table once. Row results may arrive twice (a row
worker killed after producing its results batch but before committing its
offsets redoes the batch), so every row has one bit in `done`: a result for
a row whose bit is set changes nothing. That is what makes `processed +
failed == total` exact, and the job completes exactly when the last bit is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
TYPES = ("email", "phone", "company", "domain", "ip", "darkweb")

Job = dict[str, Any]


def new_job(tenant: str, type_: str, total: int, created_ms: int) -> Job:
    return {"tenant": tenant, "type": type_, "status": QUEUED, "total": total,
            "processed": 0, "failed": 0, "credits": 0, "done": bytes((total + 7) // 8),
            "created_ms": created_ms, "started_ms": None, "completed_ms": None, "error": None}


def started(job: Job, now_ms: int) -> Job:
    """Every row is on the bulk-rows topic: the job is processing (a job with no rows is done)."""
    if job["status"] != QUEUED:
        return job
    job = {**job, "status": PROCESSING, "started_ms": now_ms}
    if job["total"] == 0:
        job.update(status=COMPLETED, completed_ms=now_ms)
    return job


def failed(job: Job, reason: str, now_ms: int) -> Job:
    if job["status"] in TERMINAL:
        return job
    return {**job, "status": FAILED, "error": reason, "completed_ms": now_ms}


def cancelled(job: Job, now_ms: int) -> Job:
    if job["status"] in TERMINAL:
        return job
    return {**job, "status": CANCELLED, "completed_ms": now_ms}


@dataclass
class Applied:
    """What a results batch changed: the new job, and whether it just completed."""

    job: Job
    new_rows: list[int] = field(default_factory=list)
    completed: bool = False


def apply_results(job: Job, results: list[dict[str, Any]], now_ms: int) -> Applied:
    """Count each row once; complete the job when its last row is counted.

    A cancelled (or failed) job still counts late rows, so its counters match the
    rows the download shows, but its status does not move.
    """
    done = bytearray(job["done"])
    processed, failed_, credits = job["processed"], job["failed"], job["credits"]
    new_rows: list[int] = []
    for result in results:
        index = result["index"]
        if not 0 <= index < job["total"]:
            continue
        byte, bit = divmod(index, 8)
        if done[byte] & (1 << bit):
            continue
        done[byte] |= 1 << bit
        new_rows.append(index)
        if result["ok"]:
            processed += 1
        else:
            failed_ += 1
        credits += max(0, int(result.get("credits") or 0))
    if not new_rows:
        return Applied(job)
    out = {**job, "done": bytes(done), "processed": processed, "failed": failed_,
           "credits": credits}
    completed = False
    if processed + failed_ >= job["total"] and out["status"] in (QUEUED, PROCESSING):
        out.update(status=COMPLETED, completed_ms=now_ms)
        completed = True
    return Applied(out, new_rows, completed)


def is_done(job: Job, index: int) -> bool:
    byte, bit = divmod(index, 8)
    return bool(job["done"][byte] & (1 << bit))


def forgettable(job: Job, now_ms: int, after_ms: int) -> bool:
    """A job over for `after_ms`: the live table may drop it (the SQL store keeps it).

    Late or redelivered results of a dropped job are ignored, as for any unknown job."""
    ended = job.get("completed_ms")
    return job["status"] in TERMINAL and ended is not None and now_ms - ended >= after_ms
