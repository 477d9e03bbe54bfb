"""`hopflow kafka|worker|bench|step-types|top|dashboard`: the commands a newcomer needs."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from streams.settings import Settings


def _kafka(args: argparse.Namespace) -> int:
    from dev import kafka

    settings = kafka.BrokerSettings.from_env(port=args.port)
    try:
        if args.action == "start":
            status = kafka.start(settings)
            print(f"kafka {kafka.KAFKA_VERSION} running on {status.bootstrap} "
                  f"(pid {status.pid}, data {status.data_dir})")
        elif args.action == "stop":
            stopped = kafka.stop(settings)
            print("kafka stopped" if stopped else "kafka was not running")
        else:
            status = kafka.status(settings)
            state = "running" if status.running else "stopped"
            print(f"kafka {state} on {status.bootstrap} (pid {status.pid}, "
                  f"data {status.data_dir})")
            return 0 if status.running else 3
    except kafka.BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _worker(args: argparse.Namespace) -> int:
    from hopflow.worker import run_worker

    overrides = {k: v for k, v in {
        "app_id": args.app_id, "bootstrap": args.bootstrap, "web_port": args.web_port,
        "web_host": args.web_host, "web_bind": args.web_bind, "partitions": args.partitions,
        "loglevel": args.loglevel, "log_format": args.log_format,
        "history": args.history}.items() if v is not None}
    run_worker(dataclasses.replace(Settings(), **overrides))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from hopflow.bench import bench, bench_bulk

    if args.what == "bulk":
        return bench_bulk(rows=args.rows, type_=args.type, workers=args.workers)
    return bench(runs=args.runs, concurrency=args.concurrency, warmup=args.warmup,
                 base_url=args.base_url, api_key=args.api_key, tenant=args.tenant)


def _step_types(args: argparse.Namespace) -> int:
    import orjson

    from api.step_types import document
    from steps.catalog import markdown

    doc = document()
    if args.markdown:
        sys.stdout.write(markdown(doc["data"]))
    else:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _urls(args: argparse.Namespace) -> list[str]:
    """The workers to read: every --url, else the local worker's (HOPFLOW_WEB_HOST/PORT)."""
    return args.url or [Settings().canonical_url]


def _top(args: argparse.Namespace) -> int:
    import asyncio

    from hopflow.top import top

    try:
        return asyncio.run(top(_urls(args), args.interval, args.once, args.api_key,
                               args.tenant))
    except KeyboardInterrupt:
        return 0


def _dashboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hopflow.dashboard import dashboard

    return dashboard(_urls(args), Path(args.out), args.hours, args.api_key, args.tenant)


def _ops_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", action="append", default=None,
                   help="a worker's base URL; repeat for every worker (figures are summed); "
                        "default the local worker's")
    p.add_argument("--api-key", default=os.environ.get("HOPFLOW_API_KEY"),
                   help="a tenant's key: workflow names (and, for dashboard, runs per hour)")
    p.add_argument("--tenant", default=os.environ.get("HOPFLOW_TENANT"),
                   help="the key's tenant")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hopflow", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="run a local single-node Kafka broker (no Docker)")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--port", type=int, default=None, help="listener port (default 9092)")
    kafka.set_defaults(func=_kafka)

    worker = sub.add_parser("worker", help="run a worker with its HTTP API")
    worker.add_argument("--app-id", default=None, help="deployment id, prefixes every topic")
    worker.add_argument("--bootstrap", default=None, help="Kafka bootstrap (127.0.0.1:9092)")
    worker.add_argument("--web-port", type=int, default=None, help="HTTP port (default 6066)")
    worker.add_argument("--web-host", default=None,
                        help="host other workers use to reach this one (default 127.0.0.1)")
    worker.add_argument("--web-bind", default=None, help="listen address (default 127.0.0.1)")
    worker.add_argument("--partitions", type=int, default=None, help="partitions per topic")
    worker.add_argument("--loglevel", default=None, help="debug, info, warning (default)")
    worker.add_argument("--log-format", default=None, choices=["text", "json"],
                        help="text (default) or json: one object a line with run_id, step_id, "
                             "tenant, workflow_id (HOPFLOW_LOG_FORMAT)")
    worker.add_argument("--history", default=None,
                        help="history store: sqlite (default, per worker) or postgresql://...")
    worker.set_defaults(func=_worker)

    bench = sub.add_parser("bench", help="measure runs/s and latency of a 3-step workflow, "
                                         "or (bench bulk) one bulk job end to end")
    bench.add_argument("what", nargs="?", choices=["runs", "bulk"], default="runs")
    bench.add_argument("--rows", type=int, default=10_000, help="bulk: CSV rows")
    bench.add_argument("--type", default="phone", choices=["phone", "email", "ip", "domain"],
                       help="bulk: lookup type")
    bench.add_argument("--workers", type=int, default=1, choices=[1, 2], help="bulk: workers")
    bench.add_argument("--runs", type=int, default=400)
    bench.add_argument("--concurrency", type=int, default=20)
    bench.add_argument("--warmup", type=int, default=20)
    bench.add_argument("--base-url", default=None,
                       help="use this running worker instead of starting broker + worker")
    bench.add_argument("--api-key", default=os.environ.get("HOPFLOW_API_KEY"),
                       help="with --base-url: a key of an unlimited-plan tenant")
    bench.add_argument("--tenant", default=os.environ.get("HOPFLOW_TENANT"),
                       help="with --base-url: the key's tenant")
    bench.set_defaults(func=_bench)

    types = sub.add_parser("step-types", help="every step type: config fields and output")
    types.add_argument("--markdown", action="store_true", help="the README's table")
    types.set_defaults(func=_step_types)

    top_cmd = sub.add_parser("top", help="live terminal view of a deployment's health "
                                         "(from its workers' /metrics)")
    _ops_options(top_cmd)
    top_cmd.add_argument("--interval", type=float, default=2.0, help="seconds between frames")
    top_cmd.add_argument("--once", action="store_true",
                         help="print one frame (two scrapes --interval apart) and exit")
    top_cmd.set_defaults(func=_top)

    dash = sub.add_parser("dashboard", help="render the health dashboard's panels to a PNG")
    _ops_options(dash)
    dash.add_argument("--out", default="health.png", help="PNG file to write")
    dash.add_argument("--hours", type=int, default=24,
                      help="runs per hour over the last N hours (at most 168)")
    dash.set_defaults(func=_dashboard)

    from hopflow import operator, secrets_cli

    operator.add_parsers(sub)
    secrets_cli.add_parsers(sub)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))
