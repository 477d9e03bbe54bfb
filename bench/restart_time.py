"""Time a worker's restart to healthy with N ended runs behind it.

`python -m bench.restart_time --runs 3000 --bootstrap 127.0.0.1:9092`: starts a
worker whose ended runs leave the live table after 2 s, drives N runs through
the bench workflow, waits until they have been expired, then stops the worker
and times its restart to a 200 from /healthz (table recovery included). The
same restart on a fresh deployment with no runs is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.run import run_bench
from dev.workers import WorkerProcess


def restart_seconds(worker: WorkerProcess) -> float:
    worker.stop()
    t0 = time.perf_counter()
    worker.start(wait=300)
    return round(time.perf_counter() - t0, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    env = {"HOPFLOW_RUN_GRACE_SECONDS": "2"}
    stamp = int(time.time())
    empty = WorkerProcess(app_id=f"restart-empty-{stamp}", bootstrap=args.bootstrap,
                          home=Path(tempfile.mkdtemp(prefix="hopflow-restart-")), env=env)
    empty.start()
    baseline = restart_seconds(empty)
    empty.stop()
    worker = WorkerProcess(app_id=f"restart-{stamp}", bootstrap=args.bootstrap,
                           home=Path(tempfile.mkdtemp(prefix="hopflow-restart-")), env=env)
    worker.start()
    result = asyncio.run(run_bench(worker.url, args.runs, 100, 10))
    time.sleep(6)  # grace (2 s) + the expiry tick: every ended run is tombstoned
    loaded = restart_seconds(worker)
    worker.stop()
    print(json.dumps({"ended_runs": result.get("runs"), "errors": result.get("errors"),
                      "restart_empty_s": baseline, "restart_with_runs_s": loaded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
