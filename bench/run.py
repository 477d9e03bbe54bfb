"""Benchmark a running hopflow worker with the same 3-step shape as the Temporal baseline.

lookup (webhook) -> shape (transform) -> is_acme (condition) -> sink (webhook). Each
run is timed start-to-end around one `POST .../run?wait=true` call, which is what a
client of the engine actually waits for, so the figures compare with
`temporal_three_step.py` (start-to-result per `execute_workflow`).

This module talks HTTP only and manages no processes: `hopflow bench` starts the
broker and a worker, then calls `run_bench`; `python -m bench.run` does the same
against a worker that is already up.

The client is one shared aiohttp session, not httpx: on this 2-core box httpx's
connection pool cost 3.5 ms CPU per request at 20 in flight (6 ms at 100, see
encode/httpx#3215) against 0.2 ms for aiohttp, which capped the bench itself at
~260 runs/s and added ~60 ms to p50 before the worker did any work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp
import orjson

from bench.sink import Sink

WORKFLOW_NAME = "bench-three-step"
RUN_WAIT_SECONDS = 60  # server-side wait; the client read timeout sits above it
READY_TIMEOUT = 30.0


class BenchError(RuntimeError):
    """The bench could not start (worker not ready, workflow rejected, every warmup failed)."""


def workflow_definition(sink_port: int, name: str = WORKFLOW_NAME) -> dict[str, Any]:
    """The benchmarked workflow, pointing both webhooks at the in-process sink."""
    peer = f"http://127.0.0.1:{sink_port}"
    return {"name": name, "steps": [
        {"id": "lookup", "type": "webhook", "config": {
            "url": f"{peer}/lookup", "method": "POST", "body": {"email": "{{input.email}}"}}},
        {"id": "shape", "type": "transform", "config": {"fields": {
            "email": "{{input.email}}", "company": "{{steps.lookup.body.company}}",
            "upper": "{{input.email}}"}}},
        {"id": "is_acme", "type": "condition", "config": {
            "field": "steps.shape.company", "op": "equals", "value": "acme",
            "then": "sink", "else": None}},
        {"id": "sink", "type": "webhook", "config": {
            "url": f"{peer}/sink", "method": "POST", "body": {"email": "{{steps.shape.email}}"}}},
    ]}


def _progress(message: str) -> None:
    """Progress goes to stderr so stdout stays one machine-readable JSON line."""
    print(message, file=sys.stderr, flush=True)


def _short(status: int, raw: bytes) -> str:
    return f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"


class _Api:
    """The worker's HTTP API over one shared session (keep-alive, bounded pool)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def call(self, method: str, path: str, body: Any = None,
                   timeout: float | None = None) -> tuple[int, bytes]:
        """(HTTP status, raw body); network errors and timeouts propagate."""
        data = None if body is None else orjson.dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(method, self.base_url + path, data=data,
                                        headers=headers, **kwargs) as response:
            return response.status, await response.read()


async def wait_ready(api: _Api, timeout: float = READY_TIMEOUT) -> None:
    """Poll /healthz until 200, so a freshly started worker is not measured while booting."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            status, raw = await api.call("GET", "/healthz", timeout=5.0)
            if status == 200:
                return
            last = _short(status, raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise BenchError(f"worker at {api.base_url} not ready after {timeout:.0f}s ({last})")
        await asyncio.sleep(0.25)


async def create_workflow(api: _Api, sink_port: int) -> str:
    """Create the bench workflow and return its id.

    The sink's port changes every time, so the workflow is created afresh each bench;
    if the name is already taken (409) a timestamped name is used instead.
    """
    try:
        status, raw = await api.call("POST", "/api/workflows", workflow_definition(sink_port))
        if status == 409:
            name = f"{WORKFLOW_NAME}-{time.time_ns()}"
            status, raw = await api.call("POST", "/api/workflows",
                                         workflow_definition(sink_port, name))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BenchError(f"creating the workflow failed: {type(exc).__name__}: {exc}") from exc
    if status not in (200, 201):
        raise BenchError(f"creating the workflow failed: {_short(status, raw)}")
    try:
        return str(orjson.loads(raw)["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchError(f"workflow create answer has no id: {_short(status, raw)}") from exc


async def _one_run(api: _Api, path: str, i: int) -> tuple[float, str | None]:
    """One waited run: (seconds, None) if it completed, else (seconds, why not)."""
    body = {"input": {"email": f"u{i}@x.com"}}
    t = time.perf_counter()
    try:
        status, raw = await api.call("POST", path, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return time.perf_counter() - t, f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - t
    if status != 200:
        return elapsed, _short(status, raw)
    try:
        run_status = orjson.loads(raw).get("status")
    except (orjson.JSONDecodeError, AttributeError):
        return elapsed, f"answer is not a JSON object: {_short(status, raw)}"
    if run_status != "completed":
        return elapsed, f"status {run_status!r}: {_short(status, raw)}"
    return elapsed, None


async def run_bench(base_url: str, runs: int, concurrency: int, warmup: int = 20, *,
                    headers: dict[str, str] | None = None,
                    ready_timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    """Benchmark the worker at `base_url`; returns runs, errors, seconds, runs/s, p50/p99.

    A run counts as an error unless it answers 200 with status "completed". Latency
    percentiles and runs_per_s cover completed runs only (an error may return fast and
    would flatter the figures); p50 = sorted[n // 2], p99 = sorted[int(n * 0.99)], as in
    the Temporal script. `lookup_calls`/`sink_calls` are what the sink saw during the
    timed phase: with no errors and no retries both equal `runs`, which shows the steps
    really ran. `headers` go on every API call (e.g. auth or tenant).
    """
    if runs < 1 or concurrency < 1 or warmup < 0:
        raise ValueError("runs and concurrency must be >= 1, warmup >= 0")
    # Every in-flight run holds its own keep-alive connection, plus a little slack.
    connector = aiohttp.TCPConnector(limit=concurrency + 4, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=RUN_WAIT_SECONDS + 15.0, connect=10.0)
    sink = Sink(keep=0)  # counts only; keeping bodies would just cost memory here
    sink_port = await sink.start()
    try:
        # trust_env stays False: no proxy from the environment between us and the worker.
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         headers=headers, trust_env=False) as session:
            api = _Api(session, base_url)
            await wait_ready(api, ready_timeout)
            workflow_id = await create_workflow(api, sink_port)
            path = f"/api/workflows/{workflow_id}/run?wait=true&timeout={RUN_WAIT_SECONDS}"
            gate = asyncio.Semaphore(concurrency)

            async def gated(i: int) -> tuple[float, str | None]:
                async with gate:
                    return await _one_run(api, path, i)

            if warmup:
                _progress(f"bench: warmup {warmup} runs (concurrency {concurrency})")
                outcomes = await asyncio.gather(*(gated(-1 - i) for i in range(warmup)))
                failed = [why for _, why in outcomes if why is not None]
                if len(failed) == warmup:
                    raise BenchError(f"all {warmup} warmup runs failed; first: {failed[0]}")
                if failed:
                    _progress(f"bench: {len(failed)}/{warmup} warmup runs failed; "
                              f"first: {failed[0]}")

            sink.counts.clear()
            latencies: list[float] = []
            errors: list[str] = []
            step = max(1, runs // 10)
            done = 0
            t0 = time.perf_counter()

            async def timed(i: int) -> None:
                nonlocal done
                elapsed, why = await gated(i)
                if why is None:
                    latencies.append(elapsed)
                else:
                    if not errors:
                        _progress(f"bench: first error: {why}")
                    errors.append(why)
                done += 1
                if done % step == 0 or done == runs:
                    _progress(f"bench: {done}/{runs} ({100 * done // runs}%) "
                              f"errors={len(errors)} {time.perf_counter() - t0:.1f}s")

            await asyncio.gather(*(timed(i) for i in range(runs)))
            seconds = time.perf_counter() - t0
    finally:
        await sink.stop()

    latencies.sort()
    n = len(latencies)
    return {
        "runs": runs,
        "concurrency": concurrency,
        "errors": len(errors),
        "seconds": round(seconds, 2),
        "runs_per_s": round(n / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(latencies[n // 2] * 1000, 1) if n else None,
        "p99_ms": round(latencies[int(n * 0.99)] * 1000, 1) if n else None,
        "lookup_calls": sink.counts["/lookup"],
        "sink_calls": sink.counts["/sink"],
    }


def auth_headers(api_key: str | None, tenant: str | None) -> dict[str, str] | None:
    if not api_key or not tenant:
        return None
    return {"x-api-key": api_key, "x-tenant-id": tenant}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    """CLI: print the result as ONE JSON line on stdout; exit 1 if any run failed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark a running hopflow worker (3-step webhook/transform/condition).")
    parser.add_argument("--base-url", default="http://127.0.0.1:6066",
                        help="worker HTTP API (default %(default)s)")
    parser.add_argument("--runs", type=_positive, default=200, help="timed runs (default 200)")
    parser.add_argument("--concurrency", type=_positive, default=20,
                        help="runs in flight at most (default 20)")
    parser.add_argument("--warmup", type=_non_negative, default=20,
                        help="untimed runs first (default 20)")
    parser.add_argument("--api-key", default=os.environ.get("HOPFLOW_API_KEY"),
                        help="API key of an unlimited-plan tenant (HOPFLOW_API_KEY)")
    parser.add_argument("--tenant", default=os.environ.get("HOPFLOW_TENANT"),
                        help="the key's tenant (HOPFLOW_TENANT)")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(run_bench(args.base_url, args.runs, args.concurrency, args.warmup,
                                       headers=auth_headers(args.api_key, args.tenant)))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
