"""Step output templates (004's OutputTemplate) in the run state machine."""

from __future__ import annotations

import orjson
import pytest

from steps.graph import InvalidDefinition, validate_workflow
from streams import machine
from tests.test_machine import CALL, DISPATCH, finished, request

TEMPLATE = "{% for i in output.items %}{{ i }}{% if not loop.last %}+{% endif %}{% endfor %}" \
           " = {{ steps.call.total }} for {{ input.who }}"


def test_io_step_output_gains_rendered_text() -> None:
    call = {**CALL, "output_template": TEMPLATE}
    state, effects = machine.apply(None, request({"steps": [call]}, {"who": "Ada"}), now=10)
    assert DISPATCH.decode(effects.dispatch)["step_id"] == "call"
    state, effects = machine.apply(
        state, finished(1, 1, True, {"items": [1, 2], "total": 3}), now=20)
    assert state["status"] == "completed"
    output = orjson.loads(state["history"][-1]["output"])
    assert output == {"items": [1, 2], "total": 3, "rendered": "1+2 = 3 for Ada"}
    assert orjson.loads(state["result"])["rendered"] == "1+2 = 3 for Ada"


def test_pure_step_output_gains_rendered_text() -> None:
    step = {"id": "t", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}},
            "output_template": "n is {{ output.n }}{% if output.n > 2 %} (big){% endif %}"}
    later = {"id": "u", "type": "transform", "config": {"fields": {"r": "{{steps.t.rendered}}"}}}
    state, _ = machine.apply(None, request({"steps": [step, later]}, {"n": 3}), now=10)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"r": "n is 3 (big)"}
    # a non-object output is kept under value
    scalar = {"id": "c", "type": "condition", "config": {"field": "input.n", "op": "exists"},
              "output_template": "{% if output.matched %}yes{% endif %}"}
    state, _ = machine.apply(None, request({"steps": [scalar]}, {"n": 1}), now=10)
    assert orjson.loads(state["history"][0]["output"])["rendered"] == "yes"


def test_render_error_fails_the_step_permanently() -> None:
    call = {**CALL, "output_template": "{% for i in range(10) %}{% for j in range(60) %}"
                                       "{% endfor %}{% endfor %}"}
    state, _ = machine.apply(None, request({"steps": [call]}), now=10)
    state, effects = machine.apply(state, finished(1, 1, True, {"ok": 1}), now=20)
    assert state["status"] == "failed" and effects.set_timer is None  # no retry
    assert "output template failed" in state["error"] and "500 iterations" in state["error"]
    assert state["history"][-1]["status"] == "failed"
    step = {"id": "t", "type": "transform", "config": {"fields": {}},
            "output_template": "{{ 'x' * 10**9 }}{% if 1 %}{% endif %}"}
    state, _ = machine.apply(None, request({"steps": [step]}), now=10)
    assert state["status"] == "failed" and "grew past" in state["error"]


def test_absent_template_leaves_output_unchanged() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL]}), now=10)
    state, _ = machine.apply(state, finished(1, 1, True, {"ok": 1}), now=20)
    assert orjson.loads(state["history"][-1]["output"]) == {"ok": 1}


def test_bad_output_template_is_a_400_field() -> None:
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow({"name": "w", "steps": [
            {"id": "a", "type": "transform", "config": {"fields": {}}},
            {**CALL, "output_template": "{% for x in y %}"}]})
    assert [i.field for i in info.value.issues] == ["steps[1].output_template"]
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow({"name": "w", "steps": [{**CALL, "output_template": "x" * 70000}]})
    assert "64 KB" in info.value.issues[0].message


def test_steps_ending_in_the_run_agent_render_their_output_template_too() -> None:
    """human (resume and timeout), delay and end_flow steps complete in the run agent,
    not through a step result: their output_template must render all the same."""
    from tests.test_human_steps import resume
    from tests.test_machine import timer
    ask = {"id": "ask", "type": "request_user_action",
           "output_template": "got {{ output.actionValue }}",
           "config": {"actions": [{"id": "a", "values": ["yes", "no"]}], "timeout": 60,
                      "on_timeout": "late"}}
    late = {"id": "late", "type": "end_flow", "output_template": "late={{ steps.ask.timedOut }}",
            "config": {"result": {"r": "{{steps.ask.rendered}}"}}}
    wait = {"id": "wait", "type": "delay", "config": {"seconds": 1},
            "output_template": "waited {{ output.waited_ms }}", "next": None}
    definition = {"steps": [ask, wait, late]}
    state, _ = machine.apply(None, request(definition), now=10)
    seq = state["history"][-1]["seq"]
    payload = {"seq": seq, "stepId": "ask", "output": {"actionId": "a", "actionValue": "yes"}}
    state, _ = machine.apply(state, resume(payload), now=20)
    assert orjson.loads(state["history"][0]["output"])["rendered"] == "got yes"
    state, _ = machine.apply(state, timer(state["timer_token"]), now=1100)
    assert state["status"] == "completed"
    assert orjson.loads(state["history"][1]["output"])["rendered"] == "waited 1080"
    # the timeout branch, into end_flow
    state, _ = machine.apply(None, request(definition), now=10)
    state, _ = machine.apply(state, timer(state["timer_token"]), now=70_010)
    assert state["status"] == "completed"
    outputs = [orjson.loads(r["output"]) for r in state["history"]]
    assert outputs[0] == {"timedOut": True, "rendered": "got "}
    assert outputs[1]["rendered"] == "late=true"
    assert orjson.loads(state["result"]) == {"r": "got "}


def test_output_template_error_on_a_resumed_step_fails_the_run() -> None:
    from tests.test_human_steps import resume
    ask = {"id": "ask", "type": "request_user_action",
           "output_template": "{% for i in range(600) %}{% endfor %}",
           "config": {"actions": [{"id": "a", "values": ["yes"]}]}}
    state, _ = machine.apply(None, request({"steps": [ask]}), now=10)
    payload = {"seq": 1, "stepId": "ask", "output": {"actionId": "a", "actionValue": "yes"}}
    state, _ = machine.apply(state, resume(payload), now=20)
    assert state["status"] == "failed" and "500 iterations" in state["error"]
    assert state["history"][-1]["status"] == "failed"
    assert state["history"][-1]["error_class"] == "permanent"


def test_output_template_error_still_bills_the_call() -> None:
    """The peer was called (and may have billed credits) before the template failed:
    the step event still carries credits, so usage counts the call."""
    from schemas import run_events
    call = {**CALL, "output_template": "{% for i in range(600) %}{% endfor %}"}
    state, _ = machine.apply(None, request({"steps": [call]}), now=10)
    command = finished(1, 1, True, {"ok": 1})
    command["finished"]["credits"] = 2
    state, effects = machine.apply(state, command, now=20)
    step = run_events.decode(effects.events[0])
    assert step["type"] == "step.failed" and step["data"]["credits"] == 2
