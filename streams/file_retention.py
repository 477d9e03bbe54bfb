"""Stored files leave with their run history: `history_retention_days` applies to both.

A file is what a run's input names (`attachment`, `fileId`); the projector records
those names (history `run_files`, removed with the run). A file older than the
retention period is deleted once no run in history names it: a run waiting on a
delay or a person keeps its file, and the file leaves with the last run's history.
A file no run ever named (`POST /api/files` unused) goes after the retention period.
With the history store down, a pass deletes nothing (it cannot tell what is in use).

Every worker runs the task (soon after start, then every 10 minutes): `expire` is
idempotent, so workers sharing a store only repeat each other's work, and workers
with their own local folders each clean theirs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from history import queries
from streams.engine import Engine

log = logging.getLogger(__name__)
FIRST_AFTER_SECONDS = 60.0
EVERY_SECONDS = 600.0


def cutoff_ms(retention_days: float, now: float | None = None) -> int:
    """Files created before this epoch-ms instant are past retention."""
    now = time.time() if now is None else now
    return int((now - retention_days * 86400) * 1000)


async def expire_once(engine: Engine, now: float | None = None) -> int:
    """One pass; how many files were deleted (a store error is logged, not raised)."""
    async def in_use(tenant: str, file_ids: list[str]) -> set[str]:
        return set(await engine.history.read(
            lambda tx: queries.files_in_use(tx, tenant, file_ids)))

    try:
        removed = await engine.files.expire(
            cutoff_ms(engine.settings.history_retention_days, now), in_use)
    except Exception:  # a store outage must not end the task
        log.exception("files: retention pass failed")
        return 0
    log.info("files: retention deleted %d file(s) older than %g days", removed,
             engine.settings.history_retention_days)
    return removed


def register(engine: Engine) -> None:
    @engine.app.task
    async def file_retention() -> None:
        await asyncio.sleep(FIRST_AFTER_SECONDS)
        while True:
            await expire_once(engine)
            await asyncio.sleep(EVERY_SECONDS)
