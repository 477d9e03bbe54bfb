"""Async bulk jobs: a CSV's rows fanned out as messages and looked up by every worker.

API -> bulk-control `created` -> bulk-progress agent (bulk_jobs table) -> bulk-rows
(one record per row) -> row workers -> bulk-control `results` -> bulk-progress (and
the bulk projector, for SQL). README: Bulk jobs.
"""

from __future__ import annotations

from streams.engine import Engine


def register(engine: Engine) -> None:
    from streams.bulk import progress, workers
    from streams.bulk.projector import BulkProjector

    progress.register(engine)
    workers.register(engine)
    engine.bulk_projector = BulkProjector(  # type: ignore[attr-defined]
        engine.settings, engine.catalog, engine.history)
    engine.app.service(engine.bulk_projector)  # type: ignore[attr-defined]
