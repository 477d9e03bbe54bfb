"""The reference-shape mappings of api/aliases.py, without a worker."""

from __future__ import annotations

import pytest

from api import aliases
from api.errors import ApiError
from steps.graph import InvalidDefinition, validate_workflow


def test_002_body_becomes_the_canonical_one() -> None:
    body = {"name": "n", "definition": {"steps": [{"id": "a", "type": "transform",
                                                   "config": {"fields": {}}}]},
            "trigger_type": "event", "trigger_config": {"event": "document.uploaded"},
            "enabled": False}
    assert aliases.normalize_body(body) == {
        "name": "n", "enabled": False, "steps": body["definition"]["steps"],
        "trigger": {"type": "event", "event": "document.uploaded"}}
    canonical = {"name": "n", "trigger": {"type": "manual"}}
    assert aliases.normalize_body(canonical) is canonical
    with pytest.raises(ApiError) as refused:
        aliases.normalize_body({**body, "trigger": {"type": "manual"}})
    assert refused.value.field == "trigger_type"


def test_004_workflow_input() -> None:
    body = aliases._workflow_in({"Name": "x", "TriggerEventType": 27, "MaxRetryCount": 50})
    assert body["trigger"] == {"type": "event", "event": "GroupUpdated"}
    assert body["retry"] == {"max_retries": 5, "backoff_seconds": 5} and body["steps"] == []
    current = {"name": "x", "steps": [{"id": "s"}], "retry": {"max_retries": 1},
               "trigger": {"type": "event", "event": "CallAdded", "filters": {"a": 1}}}
    updated = aliases._workflow_in({"TriggerEventType": "NoteAdded", "IsEnabled": False},
                                   current)
    assert updated["steps"] == [{"id": "s"}] and updated["enabled"] is False
    assert updated["trigger"] == {"type": "event", "event": "NoteAdded", "filters": {"a": 1}}
    assert updated["retry"] == {"max_retries": 1}
    for bad, field in (({"TriggerEventType": 1}, "Name"), ({"Name": "x"}, "TriggerEventType"),
                       ({"Name": "x", "TriggerEventType": True}, "TriggerEventType"),
                       ({"Name": 3, "TriggerEventType": 1}, "Name")):
        with pytest.raises(ApiError) as refused:
            aliases._workflow_in(bad)
        assert refused.value.field == field


def test_004_steps_map_to_step_types_and_back() -> None:
    step = aliases._step_in({"ActionType": 5, "StepOrder": 2, "WorkflowCredentialId": 7,
                             "ActionConfig": '{"url": "https://api.example.com/x"}',
                             "OutputTemplate": '{"id": "{{input.id}}"}'})
    assert step == {"type": "webhook", "order": 2, "config": {
        "url": "https://api.example.com/x", "method": "DELETE", "body": {"id": "{{input.id}}"},
        "credential_id": "7"}}
    shown = aliases.step_004({"id": "s1", **step}, 2)
    assert (shown["ActionType"], shown["OutputTemplate"], shown["WorkflowCredentialId"]) == (
        5, '{"id":"{{input.id}}"}', "7")
    assert aliases._step_in({"ActionType": 10, "OutputTemplate": "hi"}) == {
        "type": "slack", "config": {"template": "hi"}}
    assert aliases.step_004({"id": "t", "type": "transform", "config": {}}, 1)["ActionType"] \
        is None


def test_canonical_error_fields_become_004_fields() -> None:
    assert aliases._field_004("retry.max_retries") == "MaxRetryCount"
    assert aliases._field_004("steps[3].type") == "ActionType"
    assert aliases._field_004("steps[0].config.url") == "ActionConfig.url"
    assert aliases._field_004("steps[0].config.body") == "OutputTemplate"
    assert aliases._field_004("steps[0].config") == "ActionConfig"
    assert aliases._field_004("plan.workflows") == "plan.workflows"


@pytest.mark.parametrize("body", [
    {"name": "x", "steps": [{"id": {}, "type": ""}]},
    {"name": "x", "steps": [{"id": "a", "type": {}}]},
    {"name": "x", "steps": [{"id": "a", "type": "transform", "config": {"fields": {}}}],
     "edges": [{"from": {}, "to": []}]},
    {"name": "x", "steps": [{"id": "a", "type": "transform", "config": {"fields": {}}}],
     "initialStep": []},
    {"name": "x", "steps": [{"id": "a", "type": "condition",
                             "config": {"field": "input.a", "op": {}}}]},
])
def test_unhashable_values_are_400s_not_crashes(body: dict) -> None:
    """Found by schemathesis: these raised TypeError (a 500) in validation."""
    with pytest.raises(InvalidDefinition):
        validate_workflow(body)
