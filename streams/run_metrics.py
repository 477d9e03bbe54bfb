"""Run and step metrics, counted by the run agent from what the state machine reports.

The run agent is the hot path (every command of every run), so each family's labelled
children are bound once and kept in dicts: a counted event is a dict lookup and an
`inc`/`observe`, never a `labels()` call with its lock and tuple building. Label values
are clamped here so a metric never gets an unbounded label (streams/metrics.py):
unknown triggers become `other`, workflow ids past the cap become `_other`, and tenants
are counted only when the operator turned it on.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from streams import metrics
from streams.machine import Effects
from streams.settings import Settings

# What a run's `trigger` field holds -> the label (the catalogue's fixed list).
TRIGGERS = {"manual": "manual", "webhook": "webhook", "ingest_topic": "webhook",
            "schedule": "schedule", "event": "event", "monitor_event": "monitor",
            "monitor": "monitor", "file_upload": "file_upload", "bulk": "bulk", "test": "test",
            "rerun": "rerun"}
OTHER_TRIGGER = "other"
OTHER_WORKFLOW = "_other"


def trigger_label(state: dict[str, Any]) -> str:
    """A bulk job's fan-out runs count as `bulk` whatever trigger their workflow has."""
    if state.get("bulk") is not None:
        return "bulk"
    return TRIGGERS.get(state.get("trigger") or "", OTHER_TRIGGER)


class _Children:
    """Labelled children of one family by label tuple, created on first use."""

    def __init__(self, family: Counter | Histogram) -> None:
        self.family = family
        self.children: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        child = self.children.get(key)
        if child is None:
            labels = key if isinstance(key, tuple) else (key,)
            child = self.children[key] = self.family.labels(*labels)
        return child


class RunMetrics:
    """Counts one transition's run and step events (only for transitions that changed state)."""

    def __init__(self, settings: Settings) -> None:
        self.max_workflows = max(0, settings.metrics_max_workflows)
        self.tenants = settings.metrics_tenants
        self.started = _Children(metrics.RUNS_STARTED)
        self.ended = _Children(metrics.RUNS_ENDED)
        self.duration = _Children(metrics.RUN_DURATION)
        self.per_workflow = _Children(metrics.WORKFLOW_RUNS_ENDED)
        self.per_tenant = _Children(metrics.TENANT_RUNS_ENDED)
        self.step_duration = _Children(metrics.STEP_DURATION)
        self.retries = _Children(metrics.STEP_RETRIES)
        self.workflows: set[str] = set()

    def workflow_label(self, workflow_id: str) -> str:
        if workflow_id in self.workflows:
            return workflow_id
        if len(self.workflows) < self.max_workflows:
            self.workflows.add(workflow_id)
            return workflow_id
        return OTHER_WORKFLOW

    def count(self, state: dict[str, Any], effects: Effects) -> None:
        if effects.started:
            self.started.get(trigger_label(state)).inc()
        if effects.steps_done is not None:
            for step_type, outcome, seconds in effects.steps_done:
                self.step_duration.get((step_type, outcome)).observe(seconds)
                if outcome == "retried":
                    self.retries.get(step_type).inc()
        if effects.ended:
            status = state["status"]
            self.ended.get((status, trigger_label(state))).inc()
            self.duration.get(status).observe(
                max(0, (state["ended_ms"] or 0) - state["created_ms"]) / 1000)
            self.per_workflow.get((self.workflow_label(state["workflow_id"]), status)).inc()
            if self.tenants:
                self.per_tenant.get((state["tenant"], status)).inc()
