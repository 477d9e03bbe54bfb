"""Seed a history store with many ended runs, then time the queries the API makes.

`python -m bench.seed_history --url sqlite:////tmp/h.sqlite3 --runs 1000000`
(or a postgresql:// URL). Rows are the projector's shapes (runs, step
executions, hourly counters, workflow stats), inserted in large batches;
then the first page of a tenant's runs, a filtered page, a time window and
a workflow's health are each timed 20 times (median, p95, ms).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from history import Database, open_database, queries
from history.projection import HOUR_MS

DAY_MS = 24 * HOUR_MS
BATCH = 20_000


def _rows(n: int, tenants: int, workflows: int, steps: int, now: int, seed: int = 7
          ) -> tuple[list[tuple], list[tuple], dict[tuple, list[int]], dict[tuple, tuple]]:
    rnd = random.Random(seed)
    runs, step_rows = [], []
    hourly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    last: dict[tuple, tuple] = {}
    for i in range(n):
        tenant = f"tenant{i % tenants}"
        workflow = f"wf{rnd.randrange(workflows)}"
        created = now - rnd.randrange(30 * DAY_MS)
        duration = rnd.randrange(50, 5000)
        roll = rnd.random()
        status = "completed" if roll < 0.85 else "failed" if roll < 0.95 else "cancelled"
        error = "step sink failed after 3 attempts: HTTP 503" if status == "failed" else None
        run_id = f"run_{i:012d}"
        runs.append((run_id, tenant, workflow, 1, "manual", status, None, '{"email":"a@b.c"}',
                     '{"ok":true}' if status == "completed" else None, error, None, None,
                     created, created + duration, created + duration, steps + 2))
        for s in range(1, steps + 1):
            step_rows.append((run_id, s, 1, f"s{s}", "webhook", "completed", created + s,
                              created + s + 10, '{"status":200,"body":{"ok":true}}', None,
                              '{"method":"POST","url":"https://x"}', None))
        counters = hourly[(tenant, workflow, created - created % HOUR_MS)]
        counters[0] += 1
        counters[{"completed": 1, "failed": 2, "cancelled": 3}[status]] += 1
        if status == "completed":
            counters[4] += duration
        previous = last.get((tenant, workflow))
        if previous is None or created > previous[0]:
            last[(tenant, workflow)] = (created, status, error, created if error else None)
    return runs, step_rows, hourly, last


def seed(db: Database, n: int, tenants: int, workflows: int, steps: int, now: int) -> None:
    done = 0
    while done < n:
        chunk = min(BATCH, n - done)
        runs, step_rows, hourly, last = _rows(chunk, tenants, workflows, steps, now,
                                              seed=done)
        runs = [(f"{r[0]}_{done}", *r[1:]) for r in runs]
        step_rows = [(f"{s[0]}_{done}", *s[1:]) for s in step_rows]

        def write(tx: Any, runs: list = runs, step_rows: list = step_rows,
                  hourly: dict = hourly, last: dict = last) -> None:
            cur = tx._cursor
            marks = ", ".join("?" * 16) if tx.dialect == "sqlite" else ", ".join(["%s"] * 16)
            cur.executemany(f"INSERT INTO runs (run_id, tenant, workflow_id, workflow_version, "
                            f"trigger_type, status, current_step, input, result, error, "
                            f"idempotency_key, body_hash, created_ms, updated_ms, ended_ms, "
                            f"event_seq) VALUES ({marks})", runs)
            marks = ", ".join("?" * 12) if tx.dialect == "sqlite" else ", ".join(["%s"] * 12)
            cur.executemany(f"INSERT INTO step_executions (run_id, seq, attempt, step_id, "
                            f"step_type, status, started_ms, ended_ms, output, error, request, "
                            f"retryable) VALUES ({marks})", step_rows)
            for (tenant, workflow, hour), c in hourly.items():
                tx.execute("INSERT INTO run_stats_hourly (tenant, workflow_id, hour_ms, "
                           "started, completed, failed, cancelled, completed_ms_sum) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, workflow_id, "
                           "hour_ms) DO UPDATE SET started = run_stats_hourly.started + "
                           "excluded.started, completed = run_stats_hourly.completed + "
                           "excluded.completed, failed = run_stats_hourly.failed + "
                           "excluded.failed, cancelled = run_stats_hourly.cancelled + "
                           "excluded.cancelled, completed_ms_sum = "
                           "run_stats_hourly.completed_ms_sum + excluded.completed_ms_sum",
                           (tenant, workflow, hour, *c))
            for (tenant, workflow), (at, status, error, error_ms) in last.items():
                tx.execute("INSERT INTO workflow_stats (tenant, workflow_id, last_run_ms, "
                           "last_status, last_error, last_error_ms) VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (tenant, workflow_id) DO NOTHING",
                           (tenant, workflow, at, status, error, error_ms))

        db.write_now(write)
        done += chunk
        print(f"seeded {done}/{n}", file=sys.stderr, flush=True)


def timed(db: Database, fn: Any, repeat: int = 20) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        db.write_now(fn)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--time-only", action="store_true", help="time a store seeded before")
    args = parser.parse_args()
    now = int(time.time() * 1000)
    db = open_database(args.url)
    t0 = time.perf_counter()
    if not args.time_only:
        seed(db, args.runs, args.tenants, args.workflows, args.steps, now)
    seeded_s = time.perf_counter() - t0
    if db.dialect == "postgresql":
        db.write_now(lambda tx: tx.execute("ANALYZE"))
    tenant = "tenant0"
    figures = {
        "store": db.dialect, "runs": args.runs, "seed_seconds": round(seeded_s, 1),
        "first_page": timed(db, lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant), 20, 0)),
        "filtered_page": timed(db, lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant, "wf7", ("failed",)), 20, 0)),
        "one_day_window": timed(db, lambda tx: queries.list_runs(
            tx, queries.RunFilter(tenant, from_ms=now - 3 * DAY_MS, to_ms=now - 2 * DAY_MS),
            20, 0)),
        "health": timed(db, lambda tx: queries.health(tx, tenant, "wf7", now)),
    }
    print(json.dumps(figures))
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
