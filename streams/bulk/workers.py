"""Row workers: bulk-rows in batches -> lookups in-process -> one results record per job.

Rows are taken 500 at a time (Faust's `take` acknowledges a batch only after
the loop body returns, so a worker killed mid-batch redoes it and the job's
bitmap drops what was already counted). A row of a cancelled job is skipped:
the worker asks its history store which of the batch's jobs are cancelled
(one indexed query per batch; the store follows bulk-control). Offline
lookups run one after another (CPU-bound, nothing to overlap); provider
lookups run with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

import orjson

from history import StoreUnavailable
from history.bulk import cancelled_among
from schemas import DecodeError, codec
from steps import registry
from steps.base import ExecContext
from streams.bulk import runs
from streams.bulk.lookup import run_lookup, secrets_of
from streams.bulk.progress import control_record
from streams.engine import Engine

log = logging.getLogger(__name__)
_ROW = codec("bulk_row")
BATCH = 500
WITHIN_SECONDS = 0.05
PROVIDER_CONCURRENCY = 16
_CANCELLED_MEMORY = 1000


def _result(index: int, ok: bool, output: Any = None, error: str | None = None,
            credits: int = 0) -> dict[str, Any]:
    return {"index": index, "ok": ok,
            "output": None if output is None else orjson.dumps(output).decode(),
            "error": error, "credits": credits}


async def lookup(module: Any, row: dict[str, Any], provider: dict[str, Any] | None
                 ) -> dict[str, Any]:
    """One row's result, by the rule inline bulk calls use too (streams/bulk/lookup.py)."""
    index = row["index"]
    if row["query"] is None:
        return _result(index, False, error=row["error"] or "no value")
    ctx = ExecContext(row["job_id"], row["tenant"], f"row-{index}", 1,
                      {} if provider is None else {"provider": provider})
    looked = await run_lookup(module, {"value": row["query"]}, ctx, secrets_of(provider))
    return _result(index, looked.ok, output=looked.output, error=looked.error,
                   credits=looked.credits)


class _Cancelled:
    """Which jobs are cancelled, as far as this worker's store knows (remembered once seen)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: OrderedDict[str, None] = OrderedDict()

    async def among(self, job_ids: list[str]) -> set[str]:
        found = {j for j in job_ids if j in self.known}
        ask = [j for j in job_ids if j not in found]
        if ask:
            # store down: process the rows (a cancel is best effort; results are kept anyway)
            with contextlib.suppress(StoreUnavailable):
                found |= await self.engine.history.read(lambda tx: cancelled_among(tx, ask))
            for j in found:
                self.known[j] = None
            while len(self.known) > _CANCELLED_MEMORY:
                self.known.popitem(last=False)
        return found


async def process(engine: Engine, raws: list[bytes], cancelled: _Cancelled) -> None:
    by_job: dict[str, list[dict[str, Any]]] = {}
    for raw in raws:
        try:
            row = _ROW.decode(raw)
        except DecodeError as exc:
            log.warning("bulk: skipping an unreadable bulk-rows record: %s", exc)
            continue
        by_job.setdefault(row["job_id"], []).append(row)
    skip = await cancelled.among(list(by_job))
    for job_id, rows in by_job.items():
        if job_id in skip:
            continue
        if rows[0]["type"] == runs.TYPE:  # launched; a run reports when it ends
            results = await runs.launch_rows(engine, rows)
            if results:
                await engine.bulk_control.send(key=job_id, value=control_record(
                    "results", job_id, rows[0]["tenant"], results=results))
            continue
        module = registry.get(f"{rows[0]['type']}_lookup")
        provider_name = getattr(module, "PROVIDER", None)
        if provider_name is None:
            results = [await lookup(module, row, None) for row in rows]
        else:
            results = await _bounded(module, rows, engine.settings.provider(provider_name))
        await engine.bulk_control.send(key=job_id, value=control_record(
            "results", job_id, rows[0]["tenant"], results=results))


async def _bounded(module: Any, rows: list[dict[str, Any]], provider: dict[str, Any] | None
                   ) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(PROVIDER_CONCURRENCY)

    async def one(row: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            return await lookup(module, row, provider)

    return list(await asyncio.gather(*(one(row) for row in rows)))


def register(engine: Engine) -> None:
    cancelled = _Cancelled(engine)

    @engine.app.agent(engine.bulk_rows, name="bulk-rows")
    async def bulk_rows(stream):  # type: ignore[no-untyped-def]
        async for batch in stream.take(BATCH, within=WITHIN_SECONDS):
            await process(engine, [raw for raw in batch if isinstance(raw, bytes)], cancelled)
