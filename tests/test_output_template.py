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
