"""`hopflow top`: a live terminal view of a deployment's health, from its workers' /metrics.

For an operator without Grafana (or before it is set up): runs/s by status, latencies,
lag, failures per workflow and the counters that mean trouble, refreshed every interval.
Rates are between two scrapes; `--once` prints one frame and exits (scripts, tests).
"""

from __future__ import annotations

import asyncio
import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hopflow.figures import Figures, Quantiles, compute, workflow_names
from hopflow.scrape import Scrape, scrape

NAMES_REFRESH_SECONDS = 30.0
TOP_WORKFLOWS = 15


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _latency_table(title: str, first: str, rows: dict[str, Quantiles],
                   per_s: dict[str, float] | None = None) -> Table:
    table = Table(title=title, title_justify="left", min_width=44)
    table.add_column(first)
    if per_s is not None:
        table.add_column("/s", justify="right")
    for name in ("p50", "p95", "p99"):
        table.add_column(name, justify="right")
    if not rows:
        table.add_row("(none yet)", *(["-"] * (4 if per_s is not None else 3)))
    for key, qs in sorted(rows.items()):
        rate = [f"{per_s.get(key, 0.0):.2f}"] if per_s is not None else []
        table.add_row(key, *rate, *(_ms(q) for q in qs))
    return table


def render(fig: Figures) -> Group:
    """One frame as rich renderables (kept apart from I/O so a test can render a frame)."""
    head = Text(f"hopflow top: {', '.join(fig.urls)}  ({fig.seconds:.1f} s window, "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')})", style="bold")
    parts: list = [head]
    for url, error in sorted(fig.errors.items()):
        parts.append(Text(f"unreachable {url}: {error}", style="bold red"))

    runs = Table(title="Runs", title_justify="left", min_width=44)
    runs.add_column("status")
    runs.add_column("runs/s", justify="right")
    runs.add_column("total", justify="right")
    runs.add_row("started", f"{sum(fig.started_per_s.values()):.2f}", _num(fig.started_total))
    for status in sorted(set(fig.ended_total) | set(fig.ended_per_s)):
        runs.add_row(status, f"{fig.ended_per_s.get(status, 0.0):.2f}",
                     _num(fig.ended_total.get(status, 0.0)))
    by_trigger = ", ".join(f"{t} {r:.2f}/s" for t, r in sorted(fig.started_per_s.items()) if r)

    lag = Table(title=f"Consumer lag (total {_num(fig.lag_total)})", title_justify="left",
                min_width=44)
    lag.add_column("topic")
    lag.add_column("records", justify="right")
    for topic, records in sorted(fig.lag_by_topic.items(), key=lambda kv: -kv[1]):
        lag.add_row(topic, _num(records))
    if not fig.lag_by_topic:
        lag.add_row("(no partition assigned or reported)", "-")

    flows = Table(title="Failures per workflow", title_justify="left", min_width=44)
    for column in ("workflow", "ended", "failed", "failed %", "failed/s"):
        flows.add_column(column, justify="left" if column == "workflow" else "right")
    for w in fig.workflows[:TOP_WORKFLOWS]:
        label = w.name if w.name == w.workflow else f"{w.name} ({w.workflow})"
        flows.add_row(label, _num(w.ended), _num(w.failed), f"{w.failure_ratio:.1%}",
                      f"{w.failed_per_s:.2f}")
    if not fig.workflows:
        flows.add_row("(no run ended yet)", "-", "-", "-", "-")

    trouble = Table(title="Trouble", title_justify="left", min_width=44)
    trouble.add_column("counter")
    trouble.add_column("value", justify="right")
    trouble.add_row("step retries", f"{_num(fig.retries_total)} ({fig.retries_per_s:.2f}/s)")
    trouble.add_row("watchdog firings", _num(fig.watchdog_total))
    trouble.add_row("dead letters", _num(sum(fig.dead_letters.values())))
    for reason, count in sorted(fig.dead_letters.items()):
        trouble.add_row(f"  dlq {reason}", _num(count))
    trouble.add_row("runs refused", _num(sum(fig.refusals.values())))
    for reason, count in sorted(fig.refusals.items()):
        trouble.add_row(f"  refused {reason}", _num(count))
    trouble.add_row("orphan commands", _num(fig.orphans_total))
    trouble.add_row("projection lag", f"{_num(fig.projection_lag_records)} records, "
                                      f"{fig.projection_lag_seconds:.1f} s")
    trouble.add_row("timers pending", _num(fig.timers_pending))
    trouble.add_row("bulk rows", f"{_num(fig.bulk_rows_total)} ({fig.bulk_rows_per_s:.1f}/s), "
                                 f"{_num(fig.bulk_jobs_active)} jobs active")
    if fig.deliveries:
        trouble.add_row("webhook deliveries", ", ".join(
            f"{k} {_num(v)}" for k, v in sorted(fig.deliveries.items())))

    parts += [runs, Text(f"started by trigger: {by_trigger or '-'}"),
              _latency_table("Run latency", "status", fig.run_latency),
              _latency_table("Step latency", "step type", fig.step_latency, fig.step_per_s),
              lag, flows, trouble]
    return Group(*parts)


async def frames(urls: list[str], interval: float, api_key: str | None, tenant: str | None,
                 count: int | None = None):  # type: ignore[no-untyped-def]
    """Yield Figures every `interval` seconds (first after one interval: rates need two)."""
    names: dict[str, str] = await workflow_names(urls[0], api_key, tenant)
    names_at = time.monotonic()
    prev: Scrape = await scrape(urls)
    made = 0
    while count is None or made < count:
        await asyncio.sleep(interval)
        cur = await scrape(urls)
        fig = compute(prev, cur, names)
        if any(w.workflow not in names for w in fig.workflows) and \
                time.monotonic() - names_at > NAMES_REFRESH_SECONDS:
            names, names_at = await workflow_names(urls[0], api_key, tenant), time.monotonic()
        yield fig
        prev, made = cur, made + 1


async def top(urls: list[str], interval: float, once: bool, api_key: str | None,
              tenant: str | None, console: Console | None = None) -> int:
    console = console or Console(width=None if Console().is_terminal else 120)
    if once:
        async for fig in frames(urls, interval, api_key, tenant, count=1):
            console.print(render(fig))
            return 2 if len(fig.errors) == len(urls) else 0
        return 1
    with Live(console=console, auto_refresh=False, screen=False) as live:
        async for fig in frames(urls, interval, api_key, tenant):
            live.update(render(fig), refresh=True)
    return 0
