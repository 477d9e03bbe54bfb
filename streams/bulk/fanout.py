"""A created job's rows -> the bulk-rows topic, one record per CSV row.

Run by the progress agent (not the API), so the `created` record stays
unacknowledged until every row is on the topic: a worker killed mid-way
redelivers `created`, the rows are produced again, and the job's bitmap (and
the SQL primary key) drop the repeats. Malformed rows and rows with an empty
value carry their reason instead of a query; the row workers turn them into
failed results costing nothing, without a lookup.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from schemas import codec
from steps.documents.rows import MAX_ROWS, RowsError, query_of, read_rows
from steps.files import FileError, read_bytes
from streams.engine import Engine

_ROW = codec("bulk_row")
MAX_FILE_BYTES = 16 * 1024 * 1024


class FanOutFailed(Exception):
    """The job's file is gone or no longer reads: the job fails with this reason."""


async def produce_rows(engine: Engine, job_id: str, tenant: str, created: dict[str, Any], *,
                       workflow_id: str | None = None, actor: str | None = None) -> int:
    """Every row onto bulk-rows; a workflow job's row carries the row as a JSON object
    (header -> cell: the run's input) in `query` (streams/bulk/runs.py)."""
    try:
        _, data = await read_bytes(engine.files, tenant, created["file_id"],
                                   max_bytes=MAX_FILE_BYTES)
        table = read_rows(data, max_rows=MAX_ROWS)
    except (FileError, RowsError) as exc:
        raise FanOutFailed(f"the job's file could not be read: {exc}") from exc
    column, type_ = created["column"], created["type"]
    # The producer directly, not Faust's Topic.send: a send here is ~10x cheaper, and
    # awaiting the delivery futures all at once (below) is what makes `created` safe to ack.
    producer = engine.app.producer
    topic = engine.catalog.bulk_rows.name
    pending = []
    for row in table.rows:
        query: str | None = None
        error: str | None = None
        if row.error is not None:
            error = f"line {row.line}: {row.error}"
        elif workflow_id is not None:
            query = orjson.dumps(dict(zip(table.columns, row.values, strict=False))).decode()
        else:
            query = query_of(row, column)
            if not query:
                query, error = None, f"line {row.line}: empty value"
        pending.append(await producer.send(
            topic, f"{job_id}:{row.index}".encode(), _ROW.encode({
                "job_id": job_id, "tenant": tenant, "type": type_, "index": row.index,
                "query": query, "error": error, "workflow_id": workflow_id,
                "actor": actor}), None, None, None))
    await asyncio.gather(*pending)
    return len(table.rows)
