"""The bulk projector: bulk-control -> bulk_jobs / bulk_results / usage_daily in SQL.

A second instance of the history projector's machinery (offsets stored with
the rows in one transaction, the consumer seeking to them; SQLite: every
worker reads every partition, PostgreSQL: one consumer group) on its own
topic. Kept apart from the run-events projector so a 10,000-row job's
results never sit in the same transactions as run history, and so its
batches (thousands of rows each) do not delay the runs' projection lag.
"""

from __future__ import annotations

from typing import Any

from history import Database
from history.bulk import apply_bulk_batch, expire_jobs
from schemas import DecodeError, codec
from streams.projector import HistoryProjector
from streams.settings import Settings
from topics.catalog import Catalog

_CONTROL = codec("bulk_control")


class BulkProjector(HistoryProjector):
    def __init__(self, settings: Settings, catalog: Catalog, db: Database, **kwargs: Any
                 ) -> None:
        super().__init__(settings, catalog, db, **kwargs)
        self.topics = (catalog.bulk_control.name,)
        # run history's retention: jobs that ended history_retention_days ago leave with
        # their result rows, then file retention may delete their input files
        self.expire = expire_jobs
        self.apply = apply_bulk_batch
        self.group = f"{settings.app_id}-bulk-history" if db.dialect == "postgresql" else None

    def _decode(self, topic: str, value: bytes | None) -> dict[str, Any] | None:  # type: ignore[override]
        try:
            return _CONTROL.decode(value)
        except DecodeError:
            self.skipped += 1
            return None

    async def _measure_lag(self) -> None:
        """The run-events projector owns the lag metrics."""

