"""Stored files leave with their run history: `history_retention_days` applies to both.

A file is what a run's input names (`attachment`, `fileId`); once the run's
history is gone, nothing can name it any more, so keeping it would only keep
customer documents longer than promised. The clock starts at the upload (a file
records no runs), so a run still live a whole retention period after its file was
uploaded loses it: README "Files" states the rule. Every worker runs the task (soon
after start, then every 10 minutes): `expire` is idempotent, so workers
sharing a store only repeat each other's work, and workers with their own
local folders each clean theirs.
"""

from __future__ import annotations

import asyncio
import logging
import time

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
    try:
        removed = await engine.files.expire(
            cutoff_ms(engine.settings.history_retention_days, now))
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
