"""`hopflow dashboard --out health.png`: the Grafana dashboard's main panels in one PNG.

So a user sees health without Grafana (a CI artefact, a mail, a ticket). Latencies, lag and
the trouble counters come from the workers' /metrics (cumulative since each worker
started); runs per hour come from the history store through the public run list: one
counted query per hour and status (`GET /api/workflows/runs?from&to&status&limit=1`, its
`total`), so the cost is bounded by hours x statuses, never by the number of runs.
matplotlib draws a bare Figure (no pyplot, so no GUI backend and no global state): saving
it to .png uses the Agg renderer, no display needed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hopflow.figures import Figures, compute, headers, workflow_names
from hopflow.scrape import Scrape, scrape

HOUR_MS = 3_600_000
MAX_HOURS = 168  # a week of hourly bars: 168 x 5 counted queries at most
HISTORY_CONCURRENCY = 8
# The series of the runs-per-hour panel; "active" is every not-ended status at once.
SERIES = {"completed": "completed", "failed": "failed", "cancelled": "cancelled,terminated",
          "active": "pending,running,retrying,paused"}
COLOURS = {"completed": "tab:green", "failed": "tab:red", "cancelled": "tab:gray",
           "active": "tab:blue"}
PANELS = ("Runs per hour by status", "Run latency (p50 / p95 / p99)",
          "Step latency by type (p50 / p95 / p99)", "Failures per workflow",
          "Consumer lag per topic", "DLQ, retries, refusals, watchdog")


@dataclass
class Hourly:
    """Runs per hour and series; `note` says why there is none (no key, API error)."""

    hours_ms: list[int] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)
    note: str = ""


async def runs_per_hour(url: str, hours: int, api_key: str | None, tenant: str | None,
                        now_ms: int | None = None) -> Hourly:
    """Counted per hour and series from the history store of the key's tenant."""
    if not api_key:
        return Hourly(note="runs per hour need --api-key (a tenant's key)")
    hours = max(1, min(hours, MAX_HOURS))
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    first = now_ms - now_ms % HOUR_MS - (hours - 1) * HOUR_MS
    starts = [first + i * HOUR_MS for i in range(hours)]
    gate = asyncio.Semaphore(HISTORY_CONCURRENCY)

    async def count(client: httpx.AsyncClient, start: int, statuses: str) -> int:
        async with gate:
            response = await client.get(f"{url.rstrip('/')}/api/workflows/runs", params={
                "from": str(start), "to": str(start + HOUR_MS), "status": statuses,
                "limit": "1"}, headers=headers(api_key, tenant))
        response.raise_for_status()
        return int(response.json()["total"])

    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            counts = {}
            for series, statuses in SERIES.items():
                counts[series] = list(await asyncio.gather(
                    *(count(client, s, statuses) for s in starts)))
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Hourly(note=f"history not read: {type(exc).__name__}: {exc}"[:120])
    return Hourly(starts, counts)


def _no_data(ax: Axes, why: str = "no data") -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="gray",
            fontsize=10, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _runs_panel(ax: Axes, hourly: Hourly) -> None:
    if not hourly.hours_ms or not any(sum(c) for c in hourly.counts.values()):
        _no_data(ax, hourly.note or "no runs in the window")
        return
    x = list(range(len(hourly.hours_ms)))
    bottom = [0] * len(x)
    for series, counts in hourly.counts.items():
        ax.bar(x, counts, bottom=bottom, label=series, color=COLOURS.get(series))
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    step = max(1, len(x) // 8)
    ax.set_xticks(x[::step], [datetime.fromtimestamp(h / 1000, UTC).strftime("%d %H:00")
                              for h in hourly.hours_ms[::step]], fontsize=7)
    ax.set_ylabel("runs")
    ax.legend(fontsize=7)


def _quantile_panel(ax: Axes, rows: dict[str, tuple[float | None, ...]], unit: str) -> None:
    shown = {k: v for k, v in rows.items() if any(q is not None for q in v)}
    if not shown:
        _no_data(ax)
        return
    names = sorted(shown)
    width = 0.27
    for i, label in enumerate(("p50", "p95", "p99")):
        values = [(shown[n][i] or 0.0) * 1000 for n in names]
        ax.bar([j + (i - 1) * width for j in range(len(names))], values, width, label=label)
    ax.set_xticks(range(len(names)), names, fontsize=7, rotation=20)
    ax.set_ylabel(unit)
    ax.legend(fontsize=7)


def _hbar(ax: Axes, items: list[tuple[str, float]], colour: str, xlabel: str,
          why: str = "no data") -> None:
    if not items or not any(v for _, v in items):
        _no_data(ax, why)
        return
    ax.barh([k for k, _ in items], [v for _, v in items], color=colour)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=7)


def figure(fig_data: Figures, hourly: Hourly, title: str) -> Figure:
    """The six panels (PANELS, in order) in one Figure; returned so tests can read it."""
    fig = Figure(figsize=(15, 9), dpi=100)
    axes = fig.subplots(2, 3).flatten()
    for ax, name in zip(axes, PANELS, strict=True):
        ax.set_title(name, fontsize=10)
    _runs_panel(axes[0], hourly)
    _quantile_panel(axes[1], fig_data.run_latency, "ms")
    _quantile_panel(axes[2], fig_data.step_latency, "ms")
    _hbar(axes[3], [(w.name[:28], w.failed) for w in fig_data.workflows if w.failed][:12],
          "tab:red",
          "failed runs (since start)", "no failed runs")
    _hbar(axes[4], sorted(fig_data.lag_by_topic.items(), key=lambda kv: -kv[1])[:12],
          "tab:orange", "records behind")
    counters = [("dead letters", sum(fig_data.dead_letters.values())),
                ("step retries", fig_data.retries_total),
                ("runs refused", sum(fig_data.refusals.values())),
                ("watchdog", fig_data.watchdog_total),
                ("orphans", fig_data.orphans_total)]
    _hbar(axes[5], counters, "tab:purple", "since start", "all zero")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


async def collect(urls: list[str], hours: int, api_key: str | None, tenant: str | None
                  ) -> tuple[Figures, Hourly]:
    """Figures since start (the empty scrape as 'before') and history per hour."""
    cur, hourly, names = await asyncio.gather(
        scrape(urls), runs_per_hour(urls[0], hours, api_key, tenant),
        workflow_names(urls[0], api_key, tenant))
    start = Scrape(at=cur.at - 1.0, urls=cur.urls)
    return compute(start, cur, names), hourly


def dashboard(urls: list[str], out: Path, hours: int, api_key: str | None,
              tenant: str | None) -> int:
    figures, hourly = asyncio.run(collect(urls, hours, api_key, tenant))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    fig = figure(figures, hourly, f"hopflow health {when} — {', '.join(urls)} "
                                  f"(last {hours} h)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    for url, error in figures.errors.items():
        print(f"warning: {url} unreachable: {error}")
    print(f"wrote {out}")
    return 2 if len(figures.errors) == len(urls) else 0
