"""Prometheus metrics the engine keeps (served at /metrics).

This module is the catalogue: every family a worker exports is declared here, so the
Grafana dashboard, the alert rules, `hopflow top` and `hopflow dashboard` read one list
(tests/test_ops_catalog.py checks them against a live worker's /metrics).

Conventions (https://prometheus.io/docs/practices/naming/): `hopflow_` prefix, base units
(`_seconds`), counters end in `_total`, and every label set is bounded: no run ids, no
free text. `trigger`, `status`, `step_type`, `outcome`, `reason`, `topic` and `route` take
values from fixed lists in code. /metrics answers without auth, so nothing names a
tenant's things unless the operator turns it on: `workflow` ids only up to
HOPFLOW_METRICS_MAX_WORKFLOWS (default 0: every run counts as `_other`), `tenant` only with
HOPFLOW_METRICS_TENANTS=1.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Run latencies: a 4-step run takes tens of ms; delays and approvals take hours or days.
RUN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
               1800.0, 3600.0, 86400.0)
# Step latencies: inline steps take microseconds, I/O steps up to their timeout.
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0, 30.0, 60.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                30.0)

# --- runs -----------------------------------------------------------------------------
RUNS_STARTED = Counter(
    "hopflow_runs_started_total",
    "Runs that started (trigger: manual, webhook, schedule, event, monitor, file_upload, "
    "bulk, test, rerun, other)", ["trigger"])
RUNS_ENDED = Counter(
    "hopflow_runs_ended_total",
    "Runs that reached a terminal status (completed, failed, cancelled, terminated)",
    ["status", "trigger"])
RUN_DURATION = Histogram(
    "hopflow_run_duration_seconds",
    "Start to terminal status of a run, by its terminal status", ["status"],
    buckets=RUN_BUCKETS)
WORKFLOW_RUNS_ENDED = Counter(
    "hopflow_workflow_runs_ended_total",
    "Runs that ended, per workflow: HOPFLOW_METRICS_MAX_WORKFLOWS ids get their own label, "
    "the rest (all, by default) count as '_other'; the dashboard's failure rate by workflow",
    ["workflow", "status"])
TENANT_RUNS_ENDED = Counter(
    "hopflow_tenant_runs_ended_total",
    "Runs that ended, per tenant; exported only with HOPFLOW_METRICS_TENANTS=1",
    ["tenant", "status"])
RUNS_REFUSED = Counter(
    "hopflow_runs_refused_total",
    "Runs a trigger asked for and no run started (reason: the limit or check that refused, "
    "e.g. rate_limit, plan_cap, concurrency, file_filter)", ["reason"])

# --- steps ----------------------------------------------------------------------------
STEP_DURATION = Histogram(
    "hopflow_step_duration_seconds",
    "One step attempt, by step type and outcome (ok, failed, retried)",
    ["step_type", "outcome"], buckets=STEP_BUCKETS)
STEP_RETRIES = Counter(
    "hopflow_step_retries_total",
    "Step attempts that failed transiently and were scheduled again", ["step_type"])
WATCHDOG_FIRINGS = Counter(
    "hopflow_watchdog_firings_total",
    "I/O step results that never came back and were retried by the step watchdog")
ORPHAN_COMMANDS = Counter(
    "hopflow_orphan_commands_total",
    "Step results and timers for runs with no live state (should stay 0)")
TIMERS_PENDING = Gauge(
    "hopflow_timers_pending",
    "Durable timers (delays, retry backoffs, approval timeouts) on this worker's partitions")

# --- Kafka and state ------------------------------------------------------------------
DEAD_LETTERS = Counter(
    "hopflow_dead_letters_total",
    "Records sent to the dead-letters topic, by source topic (catalog name) and reason "
    "(decode, bad_key, agent_error, missing_file, store_unavailable, invalid)",
    ["topic", "reason"])
CONSUMER_LAG = Gauge(
    "hopflow_consumer_lag_records",
    "Records between this worker's consumer position and the high watermark, per assigned "
    "topic partition (read at scrape time)", ["topic", "partition"])
RECOVERY_ACTIVE = Gauge(
    "hopflow_table_recovery_active",
    "1 while this worker restores its tables from their changelogs, else 0")
RECOVERY_SECONDS = Gauge(
    "hopflow_table_recovery_last_seconds",
    "Wall time of this worker's last table recovery")
PROJECTION_LAG_RECORDS = Gauge(
    "hopflow_history_projection_lag_records",
    "run-events records not yet in this worker's history store")
PROJECTION_LAG_SECONDS = Gauge(
    "hopflow_history_projection_lag_seconds",
    "Age of the newest run event in the history store when the projector is behind, else 0")
HISTORY_STORE_UP = Gauge(
    "hopflow_history_store_up", "1 when the history store answered its last write")

# --- HTTP in and out ------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "hopflow_http_requests_total",
    "HTTP requests served, by route template (e.g. /api/workflows/{id}), method and status",
    ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "hopflow_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method", ["route", "method"],
    buckets=HTTP_BUCKETS)
OUTBOUND_DELIVERIES = Counter(
    "hopflow_outbound_deliveries_total",
    "Outbound event deliveries to tenants' webhook endpoints (outcome: delivered, retried, "
    "failed)", ["outcome"])

# --- triggers and bulk ----------------------------------------------------------------
EVENTS_UNMATCHED = Counter(
    "hopflow_events_unmatched_total",
    "Platform and monitor events no workflow subscribes to (type: a known event type, "
    "'monitor_event', or 'unknown' for a type outside the catalog)", ["type"])
BULK_ROWS = Counter(
    "hopflow_bulk_rows_total",
    "Bulk job rows processed, by lookup type (or 'workflow' for fan-out) and outcome "
    "(processed, failed)", ["type", "outcome"])
BULK_JOBS_ACTIVE = Gauge(
    "hopflow_bulk_jobs_active",
    "Bulk jobs queued or processing on this worker's bulk-control partitions")
