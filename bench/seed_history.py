"""Seed a history store with many ended runs, then time the queries the API makes.

    python -m bench.seed_history --url sqlite:////tmp/seed/history.sqlite3 --runs 1000000
    python -m bench.seed_history --url postgresql://postgres@127.0.0.1:55432/postgres \\
        --runs 1000000 [--tenants 10] [--workflows 50] [--steps 3]

Rows have the projector's shapes and meanings (history/projection.py): ended
runs spread over the last 30 days (85% completed, 10% failed, 5% cancelled),
`--steps` step executions each, the hourly counters (counted in the hour a
run was created; completed_ms_sum = ended - created of completed runs) and
each workflow's last run / last status / last failure. Runs are inserted
oldest first, as the projector would, in transactions of BATCH runs
(executemany on SQLite, COPY on PostgreSQL); counters are upserted so a
second seed adds to the first.

Then, on a fresh connection and a warm store, each query the API makes is
run 20 times through history.queries and `Database.read` (median, p95, ms):
a tenant's first page, a page filtered by workflow and status=failed, a page
of one day, the pending page (no active run among them) and a workflow's
health. One JSON line goes to stdout, progress to stderr; `--explain` also
prints each statement's plan to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from history import Database, open_database, queries
from history.database import Tx
from history.projection import HOUR_MS
from schemas import statuses as st

DAY_MS = 24 * HOUR_MS
SPAN_MS = 30 * DAY_MS
BATCH = 50_000
REPEAT = 20
WARMUP = 3

RUN_COLUMNS = ("run_id", "tenant", "workflow_id", "workflow_version", "trigger_type", "status",
               "current_step", "input", "result", "error", "idempotency_key", "body_hash",
               "created_ms", "updated_ms", "ended_ms", "event_seq")
STEP_COLUMNS = ("run_id", "seq", "attempt", "step_id", "step_type", "status", "started_ms",
                "ended_ms", "output", "error", "request", "retryable")
HOURLY_COLUMNS = ("tenant", "workflow_id", "hour_ms", "started", "completed", "failed",
                  "cancelled", "completed_ms_sum")
STATS_COLUMNS = ("tenant", "workflow_id", "last_run_ms", "last_status", "last_error",
                 "last_error_ms")

_INPUT = '{"email":"ada@example.com","plan":"pro","items":[{"sku":"A-1","qty":2}]}'
_RESULT = '{"ok":true,"ticket":"T-1042"}'
_OUTPUT = '{"status":200,"body":{"ok":true,"id":"8f14e45f"}}'
_REQUEST = ('{"method":"POST","url":"https://hooks.example.com/notify",'
            '"headers":{"content-type":"application/json"}}')
_FAILURE = "step notify failed after 3 attempts: HTTP 503 Service Unavailable"
_CANCEL = "cancelled by user"

# Upserts with the projector's meanings: counters add up; the newest batch's last status wins,
# a failure is kept until a newer one (projection._started/_ended/_count).
_HOURLY_UPSERT = (
    "INSERT INTO run_stats_hourly ({cols}) {source} "
    "ON CONFLICT (tenant, workflow_id, hour_ms) DO UPDATE SET "
    "started = run_stats_hourly.started + excluded.started, "
    "completed = run_stats_hourly.completed + excluded.completed, "
    "failed = run_stats_hourly.failed + excluded.failed, "
    "cancelled = run_stats_hourly.cancelled + excluded.cancelled, "
    "completed_ms_sum = run_stats_hourly.completed_ms_sum + excluded.completed_ms_sum")
_STATS_UPSERT = (
    "INSERT INTO workflow_stats ({cols}) {source} "
    "ON CONFLICT (tenant, workflow_id) DO UPDATE SET "
    "last_run_ms = CASE WHEN workflow_stats.last_run_ms IS NULL "
    "OR excluded.last_run_ms > workflow_stats.last_run_ms THEN excluded.last_run_ms "
    "ELSE workflow_stats.last_run_ms END, "
    "last_status = excluded.last_status, "
    "last_error = COALESCE(excluded.last_error, workflow_stats.last_error), "
    "last_error_ms = COALESCE(excluded.last_error_ms, workflow_stats.last_error_ms)")


class Batch:
    """The rows of `count` consecutive runs, created in [start_ms, end_ms), oldest first."""

    def __init__(self, rnd: random.Random, count: int, start_ms: int, end_ms: int,
                 tenants: int, workflows: int, steps: int) -> None:
        self.runs: list[tuple[Any, ...]] = []
        self.steps: list[tuple[Any, ...]] = []
        hourly: dict[tuple[str, str, int], list[int]] = {}
        # (tenant, workflow) -> [last_run_ms, last_ended_ms, last_status, error, error_ms]
        last: dict[tuple[str, str], list[Any]] = {}
        created_all = sorted(rnd.randrange(start_ms, end_ms) for _ in range(count))
        for created in created_all:
            tenant = f"tenant{rnd.randrange(tenants)}"
            workflow = f"wf{rnd.randrange(workflows)}"
            roll = rnd.random()
            status = (st.COMPLETED if roll < 0.85 else st.FAILED if roll < 0.95
                      else st.CANCELLED)
            duration = rnd.randrange(50, 5000) if status != st.FAILED \
                else rnd.randrange(2000, 30_000)  # retries before giving up
            ended = created + duration
            error = _FAILURE if status == st.FAILED else _CANCEL \
                if status == st.CANCELLED else None
            run_id = f"run_{rnd.getrandbits(128):032x}"
            self.runs.append((run_id, tenant, workflow, 1, "manual", status, None, _INPUT,
                              _RESULT if status == st.COMPLETED else None, error, None, None,
                              created, ended, ended, steps + 2))
            slot = duration // max(steps, 1)
            for seq in range(1, steps + 1):
                started = created + (seq - 1) * slot
                step_status, output, step_error, retryable = st.COMPLETED, _OUTPUT, None, None
                if seq == steps and status == st.FAILED:
                    step_status, output, step_error, retryable = st.FAILED, None, \
                        "HTTP 503 Service Unavailable", 0
                elif seq == steps and status == st.CANCELLED:
                    step_status, output = st.CANCELLED, None
                self.steps.append((run_id, seq, 1, f"step{seq}", "webhook", step_status,
                                   started, started + slot, output, step_error, _REQUEST,
                                   retryable))
            counters = hourly.setdefault((tenant, workflow, created - created % HOUR_MS),
                                         [0, 0, 0, 0, 0])
            counters[0] += 1
            counters[{st.COMPLETED: 1, st.FAILED: 2, st.CANCELLED: 3}[status]] += 1
            if status == st.COMPLETED:
                counters[4] += duration
            seen = last.setdefault((tenant, workflow), [created, 0, None, None, None])
            seen[0] = max(seen[0], created)
            if ended >= seen[1]:
                seen[1], seen[2] = ended, status
            if status == st.FAILED and (seen[4] is None or ended >= seen[4]):
                seen[3], seen[4] = error, ended
        self.hourly = [(*key, *c) for key, c in hourly.items()]
        self.stats = [(t, w, run_ms, status, error, error_ms)
                      for (t, w), (run_ms, _, status, error, error_ms) in last.items()]


def _marks(n: int, dialect: str) -> str:
    return ", ".join(["?" if dialect == "sqlite" else "%s"] * n)


def _write_sqlite(tx: Tx, batch: Batch) -> None:
    cur = tx._cursor  # the driver's cursor: executemany is not in the Tx API
    for table, columns, rows in (("runs", RUN_COLUMNS, batch.runs),
                                 ("step_executions", STEP_COLUMNS, batch.steps)):
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({_marks(len(columns), 'sqlite')})", rows)
    for template, columns, rows in ((_HOURLY_UPSERT, HOURLY_COLUMNS, batch.hourly),
                                    (_STATS_UPSERT, STATS_COLUMNS, batch.stats)):
        source = f"VALUES ({_marks(len(columns), 'sqlite')})"
        cur.executemany(template.format(cols=", ".join(columns), source=source), rows)


def _write_postgresql(tx: Tx, batch: Batch) -> None:
    cur = tx._cursor
    for table, columns, rows in (("runs", RUN_COLUMNS, batch.runs),
                                 ("step_executions", STEP_COLUMNS, batch.steps)):
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    for table, template, columns, rows in (
            ("run_stats_hourly", _HOURLY_UPSERT, HOURLY_COLUMNS, batch.hourly),
            ("workflow_stats", _STATS_UPSERT, STATS_COLUMNS, batch.stats)):
        cols = ", ".join(columns)
        cur.execute(f"CREATE TEMP TABLE seed_{table} (LIKE {table}) ON COMMIT DROP")
        with cur.copy(f"COPY seed_{table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(template.format(cols=cols, source=f"SELECT {cols} FROM seed_{table}"))


def seed(db: Database, n: int, tenants: int, workflows: int, steps: int, now: int,
         seed_value: int) -> None:
    """n runs created in the 30 days before `now`, oldest first, BATCH runs a transaction."""
    rnd = random.Random(seed_value)
    write = _write_sqlite if db.dialect == "sqlite" else _write_postgresql
    if db.dialect == "sqlite":
        # the seeding connection only: 1 GiB of page cache instead of 2 MiB, or inserts into
        # the random-keyed indexes (run_id) read the file page by page (the timed reads
        # below use a fresh connection with the defaults)
        db.write_now(lambda tx: tx.execute("PRAGMA cache_size = -1048576"))
    start = now - SPAN_MS
    t0 = time.perf_counter()
    done = 0
    while done < n:
        count = min(BATCH, n - done)
        # consecutive time slices, so runs arrive in creation order across batches too
        lo = start + SPAN_MS * done // n
        hi = start + SPAN_MS * (done + count) // n
        batch = Batch(rnd, count, lo, max(hi, lo + 1), tenants, workflows, steps)
        db.write_now(lambda tx, batch=batch: write(tx, batch))
        done += count
        elapsed = time.perf_counter() - t0
        print(f"seeded {done}/{n} runs ({len(batch.steps)} steps, {len(batch.hourly)} hourly "
              f"rows this batch), {elapsed:.1f} s, {done / elapsed:,.0f} runs/s",
              file=sys.stderr, flush=True)


def vacuum_analyze(url: str) -> None:
    """PostgreSQL: what autovacuum would have done to a store that has been up a while
    (statistics, visibility map for index-only scans); VACUUM cannot run in a transaction."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


class Recorder:
    """A Tx that also remembers its statements, to EXPLAIN them afterwards."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.dialect = tx.dialect
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.statements.append((sql, list(params)))
        return self._tx.execute(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append((sql, list(params)))
        return self._tx.all(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.statements.append((sql, list(params)))
        return self._tx.one(sql, params)


def explain(tx: Tx, fn: Callable[[Any], Any]) -> list[str]:
    recorder = Recorder(tx)
    fn(recorder)
    plans = []
    for sql, params in recorder.statements:
        prefix = "EXPLAIN QUERY PLAN " if tx.dialect == "sqlite" else \
            "EXPLAIN (ANALYZE, BUFFERS) "
        rows = tx.all(prefix + sql, params)
        lines = [" | ".join(str(c) for c in r) for r in rows] if tx.dialect == "sqlite" \
            else [r[0] for r in rows]
        plans.append(f"{sql}\n  params={params}\n  " + "\n  ".join(lines))
    return plans


async def time_queries(db: Database, checks: dict[str, Callable[[Any], Any]],
                       show_plans: bool) -> dict[str, dict[str, float]]:
    figures = {}
    for name, fn in checks.items():
        for _ in range(WARMUP):
            await db.read(fn)
        samples = []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            await db.read(fn)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        p95 = samples[math.ceil(0.95 * len(samples)) - 1]  # nearest rank
        figures[name] = {"median_ms": round(statistics.median(samples), 3),
                         "p95_ms": round(p95, 3), "max_ms": round(samples[-1], 3)}
        if show_plans:
            for plan in await db.read(lambda tx, fn=fn: explain(tx, fn)):
                print(f"-- {name}: {plan}", file=sys.stderr)
    return figures


def row_counts(tx: Tx) -> dict[str, int]:
    counted = {}
    for table in ("runs", "step_executions", "run_stats_hourly", "workflow_stats"):
        row = tx.one(f"SELECT COUNT(*) FROM {table}")
        counted[table] = int(row[0]) if row else 0
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="sqlite:///path or postgresql://...")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument("--time-only", action="store_true", help="time a store seeded before")
    parser.add_argument("--explain", action="store_true", help="print query plans to stderr")
    args = parser.parse_args()

    now = int(time.time() * 1000)
    db = open_database(args.url)
    seeded_s = 0.0
    if not args.time_only:
        t0 = time.perf_counter()
        seed(db, args.runs, args.tenants, args.workflows, args.steps, now, args.seed)
        seeded_s = time.perf_counter() - t0
    db.close()
    maintenance_s = 0.0
    if db.dialect == "postgresql":
        t0 = time.perf_counter()
        vacuum_analyze(args.url)
        maintenance_s = time.perf_counter() - t0

    tenant, workflow = "tenant0", "wf7"
    day_from = now - 3 * DAY_MS
    checks: dict[str, Callable[[Any], Any]] = {
        "first_page": lambda tx: queries.list_runs(tx, queries.RunFilter(tenant), 20, 0),
        "workflow_failed_page": lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant, workflow, (st.FAILED,)), 20, 0),
        "one_day_page": lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant, from_ms=day_from, to_ms=day_from + DAY_MS), 20, 0),
        "pending_page": lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant, statuses=st.ACTIVE), 20, 0),
        "health": lambda tx: queries.health(tx, tenant, workflow, now),
    }

    reader = Database(args.url)  # a fresh connection, the API's read path

    async def measure() -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
        figures = await time_queries(reader, checks, args.explain)
        counts = await reader.read(row_counts)
        totals = {name: (await reader.read(lambda tx, fn=fn: fn(tx))).total
                  for name, fn in checks.items() if name != "health"}
        return figures, counts, totals

    figures, counts, totals = asyncio.run(measure())
    reader.close()
    print(json.dumps({"store": db.dialect, "seeded_runs": 0 if args.time_only else args.runs,
                      "seed_seconds": round(seeded_s, 1),
                      "vacuum_analyze_seconds": round(maintenance_s, 1),
                      "rows": counts, "page_totals": totals, "queries": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
