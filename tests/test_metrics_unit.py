"""Run metrics without a broker: what the machine reports, what the run agent counts,
and README's metrics table against streams/metrics.py."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from streams import machine, metrics
from streams.metrics_table import exported_name, families, markdown
from streams.run_metrics import RunMetrics, trigger_label
from streams.settings import Settings
from tests.test_machine import CALL, SHAPE, finished, request, timer

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- metrics:begin -->\n(.*?)<!-- metrics:end -->", re.S)


def test_readme_metrics_table_is_the_generated_one() -> None:
    """`hopflow metrics --markdown` writes the block; a new family must update README."""
    match = _BLOCK.search(README.read_text())
    assert match, "README lacks the metrics block"
    assert match.group(1) == markdown(), (
        "README's metrics table is stale: paste `hopflow metrics --markdown` into it")
    for family in families():
        assert f"`{exported_name(family)}`" in match.group(1)


def test_machine_reports_start_steps_and_end_once() -> None:
    state, effects = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=10)
    assert effects.started and not effects.ended and effects.steps_done is None
    state, effects = machine.apply(state, finished(1, 1, True, {"body": 7}), now=20)
    assert effects.ended and not effects.started
    assert [(t, o) for t, o, _ in effects.steps_done or []] == [("webhook", "ok"),
                                                                ("transform", "ok")]
    assert effects.steps_done and effects.steps_done[0][2] == 0.001  # executor's 1..2 ms
    _, again = machine.apply(state, finished(1, 1, True, {"body": 7}), now=21)
    assert not again.changed  # a redelivery: the agent counts nothing


def test_retried_then_failed_attempts() -> None:
    definition = {"retry": {"max_retries": 1, "backoff_seconds": 1}, "steps": [CALL]}
    state, _ = machine.apply(None, request(definition), now=0)
    state, effects = machine.apply(state, finished(1, 1, False, retryable=True), now=5)
    assert [(t, o) for t, o, _ in effects.steps_done or []] == [("webhook", "retried")]
    assert not effects.ended
    state, effects = machine.apply(state, timer(effects.set_timer["token"]), now=2000)
    state, effects = machine.apply(state, finished(1, 2, False, retryable=True), now=2005)
    assert [(t, o) for t, o, _ in effects.steps_done or []] == [("webhook", "failed")]
    assert effects.ended and state["status"] == "failed"


def _value(family, *labels: str) -> float:  # type: ignore[no-untyped-def]
    return family.labels(*labels)._value.get() if labels else family._value.get()


def test_run_metrics_count_and_cap_workflows_and_tenants_only_when_on() -> None:
    settings = dataclasses.replace(Settings(), metrics_max_workflows=1, metrics_tenants=False)
    counted = RunMetrics(settings)
    before_other = _value(metrics.WORKFLOW_RUNS_ENDED, "_other", "completed")
    for workflow in ("unit-wf-a", "unit-wf-b"):
        state, effects = machine.apply(None, request({"steps": [SHAPE]}), now=0)
        state["workflow_id"] = workflow
        counted.count(state, effects)
    assert _value(metrics.WORKFLOW_RUNS_ENDED, "unit-wf-a", "completed") >= 1
    assert _value(metrics.WORKFLOW_RUNS_ENDED, "_other", "completed") == before_other + 1
    assert ("unit-wf-b", "completed") not in metrics.WORKFLOW_RUNS_ENDED._metrics
    assert not any(key[0] == "t" for key in metrics.TENANT_RUNS_ENDED._metrics)


def test_trigger_labels_are_clamped() -> None:
    assert trigger_label({"trigger": "manual"}) == "manual"
    assert trigger_label({"trigger": "ingest_topic"}) == "webhook"
    assert trigger_label({"trigger": "something-new"}) == "other"
    assert trigger_label({"trigger": "file_upload", "bulk": {"job": "j", "row": 1}}) == "bulk"
