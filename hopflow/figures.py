"""The health figures `hopflow top` and `hopflow dashboard` show, from two scrapes.

One place turns the metric catalogue (streams/metrics.py) into named figures, so the
terminal view and the PNG show the same numbers under the same names, and a renamed family
breaks one module. Missing families read as zero (a fresh worker exports few samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from hopflow.scrape import Key, Scrape, rates, window_quantiles

QS = (0.5, 0.95, 0.99)
Quantiles = tuple[float | None, ...]


@dataclass
class WorkflowFigures:
    workflow: str  # id as the metric labels it (or '_other')
    name: str
    ended: float
    failed: float
    failed_per_s: float

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.ended if self.ended else 0.0


@dataclass
class Figures:
    """Everything one frame shows; counters as totals since start and per-second rates."""

    urls: tuple[str, ...]
    seconds: float
    errors: dict[str, str]
    started_per_s: dict[str, float]  # trigger -> runs/s
    ended_per_s: dict[str, float]  # status -> runs/s
    started_total: float
    ended_total: dict[str, float]  # status -> runs
    run_latency: dict[str, Quantiles]  # status ('all' too) -> p50, p95, p99
    step_latency: dict[str, Quantiles]  # step type -> p50, p95, p99
    step_per_s: dict[str, float]
    lag_by_topic: dict[str, float]
    workflows: list[WorkflowFigures]
    retries_total: float
    retries_per_s: float
    watchdog_total: float
    dead_letters: dict[str, float]  # reason -> records
    refusals: dict[str, float]  # reason -> runs
    orphans_total: float
    projection_lag_records: float
    projection_lag_seconds: float
    timers_pending: float
    bulk_rows_per_s: float
    bulk_rows_total: float
    bulk_jobs_active: float
    deliveries: dict[str, float] = field(default_factory=dict)  # outcome -> total

    @property
    def lag_total(self) -> float:
        return sum(self.lag_by_topic.values())


def _one(by: dict[Key, float]) -> dict[str, float]:
    return {key[0]: value for key, value in by.items()}


def compute(prev: Scrape, cur: Scrape, names: dict[str, str] | None = None) -> Figures:
    """The frame between two scrapes of the same workers."""
    names = names or {}
    run_latency = {k[0]: v for k, v in window_quantiles(
        prev, cur, "hopflow_run_duration_seconds", ("status",), QS).items()}
    overall = window_quantiles(prev, cur, "hopflow_run_duration_seconds", (), QS)
    if () in overall:
        run_latency = {"all": overall[()], **run_latency}
    ended_by = cur.total("hopflow_workflow_runs_ended_total", ("workflow",))
    failed_by = cur.total("hopflow_workflow_runs_ended_total", ("workflow",), status="failed")
    failed_rate = rates(prev, cur, "hopflow_workflow_runs_ended_total", ("workflow",),
                        status="failed")
    workflows = [WorkflowFigures(key[0], names.get(key[0], key[0]), ended,
                                 failed_by.get(key, 0.0), failed_rate.get(key, 0.0))
                 for key, ended in ended_by.items()]
    workflows.sort(key=lambda w: (-w.failed, -w.ended, w.workflow))
    return Figures(
        urls=cur.urls, seconds=cur.at - prev.at, errors={**prev.errors, **cur.errors},
        started_per_s=_one(rates(prev, cur, "hopflow_runs_started_total", ("trigger",))),
        ended_per_s=_one(rates(prev, cur, "hopflow_runs_ended_total", ("status",))),
        started_total=cur.value("hopflow_runs_started_total"),
        ended_total=_one(cur.total("hopflow_runs_ended_total", ("status",))),
        run_latency=run_latency,
        step_latency={k[0]: v for k, v in window_quantiles(
            prev, cur, "hopflow_step_duration_seconds", ("step_type",), QS).items()},
        step_per_s=_one(rates(prev, cur, "hopflow_step_duration_seconds_count", ("step_type",))),
        lag_by_topic=_one(cur.total("hopflow_consumer_lag_records", ("topic",))),
        workflows=workflows,
        retries_total=cur.value("hopflow_step_retries_total"),
        retries_per_s=sum(rates(prev, cur, "hopflow_step_retries_total").values()),
        watchdog_total=cur.value("hopflow_watchdog_firings_total"),
        dead_letters=_one(cur.total("hopflow_dead_letters_total", ("reason",))),
        refusals=_one(cur.total("hopflow_runs_refused_total", ("reason",))),
        orphans_total=cur.value("hopflow_orphan_commands_total"),
        projection_lag_records=cur.value("hopflow_history_projection_lag_records"),
        projection_lag_seconds=cur.value("hopflow_history_projection_lag_seconds"),
        timers_pending=cur.value("hopflow_timers_pending"),
        bulk_rows_per_s=sum(rates(prev, cur, "hopflow_bulk_rows_total").values()),
        bulk_rows_total=cur.value("hopflow_bulk_rows_total"),
        bulk_jobs_active=cur.value("hopflow_bulk_jobs_active"),
        deliveries=_one(cur.total("hopflow_outbound_deliveries_total", ("outcome",))),
    )


def headers(api_key: str | None, tenant: str | None) -> dict[str, str]:
    found = {"x-api-key": api_key} if api_key else {}
    if tenant:
        found["x-tenant-id"] = tenant
    return found


async def workflow_names(url: str, api_key: str | None, tenant: str | None,
                         timeout: float = 5.0) -> dict[str, str]:
    """Workflow id -> name from `GET /api/workflows` (one tenant's, first 200); empty
    without a key or on any error: the view then shows ids, which is still useful."""
    if not api_key:
        return {}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"{url.rstrip('/')}/api/workflows",
                                        params={"limit": "200"},
                                        headers=headers(api_key, tenant))
        if response.status_code != 200:
            return {}
        return {w["id"]: str(w.get("name") or w["id"]) for w in response.json()["data"]}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {}
