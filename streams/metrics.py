"""Prometheus metrics the engine keeps (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WATCHDOG_FIRINGS = Counter(
    "hopflow_watchdog_firings_total",
    "I/O step results that never came back and were retried by the step watchdog")
ORPHAN_COMMANDS = Counter(
    "hopflow_orphan_commands_total",
    "Step results and timers for runs with no live state (should stay 0)")
PROJECTION_LAG_RECORDS = Gauge(
    "hopflow_history_projection_lag_records",
    "run-events records not yet in this worker's history store")
PROJECTION_LAG_SECONDS = Gauge(
    "hopflow_history_projection_lag_seconds",
    "Age of the newest run event in the history store when the projector is behind, else 0")
HISTORY_STORE_UP = Gauge(
    "hopflow_history_store_up", "1 when the history store answered its last write")
RUNS_REFUSED = Counter(
    "hopflow_runs_refused_total",
    "Runs a trigger asked for and no run started (reason: the limit or check that refused)",
    ["reason"])
EVENTS_UNMATCHED = Counter(
    "hopflow_events_unmatched_total",
    "Platform and monitor events no workflow subscribes to (type: a known event type, "
    "'monitor_event', or 'unknown' for a type outside the catalog)", ["type"])
