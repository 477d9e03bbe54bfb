"""Human steps and end_flow alone: pause, resume, wrong resumes, timeout, redelivery."""

import orjson
import pytest

from schemas import codec, run_events
from steps import registry
from steps.graph import InvalidDefinition, compile_definition
from steps.human import ResumeInvalid
from steps.resume import check_resume
from streams import machine
from tests.test_machine import control, request, timer, types

COMMAND = codec("run_command")
ASK = {"id": "ask", "type": "collect-inputs", "config": {
    "title": "Hello {{input.name}}", "message": "Fill this in",
    "fields": [{"name": "reason", "type": "string", "required": True},
               {"name": "amount", "type": "number"},
               {"name": "count", "type": "integer"},
               {"name": "ok", "type": "boolean"},
               {"name": "email", "type": "email"},
               {"name": "when", "type": "date"},
               {"name": "tier", "type": "select", "options": ["gold", {"value": "silver"}]}]}}
APPROVE = {"id": "approve", "type": "request_user_action", "config": {
    "title": "Approve?", "actions": [
        {"id": "approval-action-1", "label": "Decision", "values": ["approved", "rejected"]},
        {"id": "escalate", "values": [{"value": "manager", "label": "To my manager"}]}]}}
DONE = {"id": "done", "type": "transform", "config": {"fields": {"got": "{{steps.ask}}"}}}


def resume(payload: dict | None, n: int = 1) -> dict:
    return {"id": f"resume:{n}", "run_id": "r1", "tenant": "t", "ts_ms": 0, "kind": "resume",
            "request": None, "finished": None, "timer_token": None, "reason": None,
            "payload": None if payload is None else orjson.dumps(payload).decode()}


def signal_of(state: dict) -> dict:
    return orjson.loads(state["history"][-1]["request"])


def answer_for(state: dict, body: dict) -> dict:
    """What the API sends: the checked output for the step the run waits at."""
    record = state["history"][-1]
    return {"seq": record["seq"], "stepId": record["step_id"],
            "output": check_resume(signal_of(state), body)}


def test_collect_inputs_pauses_with_a_signal_and_no_timer() -> None:
    state, effects = machine.apply(None, request({"steps": [ASK, DONE]}, {"name": "Ann"}), now=5)
    assert state["status"] == "paused" and state["current_step"] == "ask"
    assert state["history"][-1]["status"] == "waiting"
    assert types(effects) == ["run.started", "run.paused"]
    assert effects.set_timer is None and effects.dispatch is None  # no watchdog, no dispatch
    pause = signal_of(state)
    assert pause["type"] == "collect_inputs" and pause["stepId"] == "ask"
    assert pause["title"] == "Hello Ann" and pause["expiresAtMs"] is None
    assert {f["name"]: f["type"] for f in pause["fields"]}["amount"] == "number"
    assert pause["fields"][-1]["options"] == ["gold", "silver"]
    assert run_events.decode(effects.events[-1])["data"]["pauseSignal"] == pause


def test_resume_completes_the_step_with_the_data_and_continues() -> None:
    state, _ = machine.apply(None, request({"steps": [ASK, DONE]}), now=5)
    body = {"type": "collect_inputs", "data": {"reason": "Budget", "amount": 2.5, "ok": True,
                                               "when": "2024-01-31", "tier": "silver"}}
    state, effects = machine.apply(state, resume(answer_for(state, body)), now=9)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"got": body["data"]}
    assert types(effects) == ["run.resumed", "step.completed", "step.completed",
                              "run.completed"]
    ask = state["history"][0]
    assert ask["status"] == "completed" and ask["ended_ms"] == 9
    assert orjson.loads(ask["output"]) == body["data"]


@pytest.mark.parametrize(("body", "field"), [
    ({"data": {}}, "data.reason"),
    ({"data": {"reason": 3}}, "data.reason"),
    ({"data": {"reason": "x", "amount": "3"}}, "data.amount"),
    ({"data": {"reason": "x", "amount": True}}, "data.amount"),
    ({"data": {"reason": "x", "count": 1.5}}, "data.count"),
    ({"data": {"reason": "x", "ok": "yes"}}, "data.ok"),
    ({"data": {"reason": "x", "email": "not-an-address"}}, "data.email"),
    ({"data": {"reason": "x", "when": "31/01/2024"}}, "data.when"),
    ({"data": {"reason": "x", "when": "2024-02-30"}}, "data.when"),
    ({"data": {"reason": "x", "tier": "bronze"}}, "data.tier"),
    ({"data": {"reason": "x", "extra": 1}}, "data.extra"),
    ({"data": [1]}, "data"),
    ({"type": "request_user_action", "actionId": "a"}, "type"),
])
def test_a_wrong_collect_inputs_answer_names_the_field(body: dict, field: str) -> None:
    state, _ = machine.apply(None, request({"steps": [ASK, DONE]}), now=5)
    with pytest.raises(ResumeInvalid) as caught:
        check_resume(signal_of(state), body)
    assert caught.value.field == field


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "request_user_action", "actionId": "nope", "actionValue": "approved"}, "actionId"),
    ({"type": "request_user_action", "actionId": "approval-action-1", "actionValue": "maybe"},
     "actionValue"),
    ({"type": "request_user_action", "actionId": "escalate", "actionValue": "approved"},
     "actionValue"),
    ({"type": "request_user_action", "actionValue": "approved"}, "actionId"),
    ({"type": "request_user_action", "actionId": "approval-action-1"}, "actionValue"),
    ({"type": "collect_inputs", "data": {}}, "type"),
])
def test_a_wrong_action_names_the_field(body: dict, field: str) -> None:
    state, _ = machine.apply(None, request({"steps": [APPROVE]}), now=5)
    with pytest.raises(ResumeInvalid) as caught:
        check_resume(signal_of(state), body)
    assert caught.value.field == field


def test_request_user_action_resumes_with_the_chosen_action() -> None:
    state, _ = machine.apply(None, request({"steps": [APPROVE]}), now=5)
    pause = signal_of(state)
    assert pause["type"] == "request_user_action"
    assert pause["actions"][0] == {"id": "approval-action-1", "label": "Decision",
                                   "values": ["approved", "rejected"],
                                   "valueLabels": [None, None]}
    body = {"type": "request_user_action", "actionId": "approval-action-1",
            "actionValue": "approved"}
    state, _ = machine.apply(state, resume(answer_for(state, body)), now=9)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"actionId": "approval-action-1",
                                             "actionValue": "approved"}


def test_resume_redelivery_and_stale_resumes_change_nothing() -> None:
    state, _ = machine.apply(None, request({"steps": [ASK, APPROVE]}), now=5)
    good = answer_for(state, {"data": {"reason": "r"}})
    wrong_step = {**good, "stepId": "approve"}
    same, effects = machine.apply(state, resume(wrong_step, 7), now=6)
    assert same["status"] == "paused" and not effects.changed
    state, first = machine.apply(state, resume(good), now=7)
    assert state["status"] == "paused" and state["current_step"] == "approve"
    history = [dict(h) for h in state["history"]]
    again, effects = machine.apply(state, resume(good), now=8)  # redelivered: re-sent only
    assert again["history"] == history and not effects.changed
    assert effects.events == first.events
    _, effects = machine.apply(state, resume(good, 2), now=9)  # a second answer for "ask"
    assert not effects.changed and not effects.events


def test_resume_of_a_run_that_is_not_paused_is_ignored() -> None:
    state, _ = machine.apply(None, request({"steps": [ASK]}), now=5)
    state, _ = machine.apply(state, control("cancel"), now=6)
    assert state["status"] == "cancelled" and state["history"][0]["status"] == "cancelled"
    late, effects = machine.apply(state, resume({"seq": 1, "stepId": "ask", "output": {}}),
                                  now=7)
    assert late["status"] == "cancelled" and not effects.changed


def test_timeout_takes_the_on_timeout_branch() -> None:
    ask = {**ASK, "config": {**ASK["config"], "timeout": "2s", "on_timeout": "late"}}
    late = {"id": "late", "type": "end-flow", "config": {"result": {"late": True}}}
    state, effects = machine.apply(None, request({"steps": [ask, DONE, late]}), now=1000)
    assert effects.set_timer == {"run_id": "r1", "tenant": "t", "token": "1:human",
                                 "due_ms": 3000, "kind": "human"}
    assert signal_of(state)["expiresAtMs"] == 3000
    state, effects = machine.apply(state, timer("1:human"), now=3000)
    assert state["status"] == "completed" and orjson.loads(state["result"]) == {"late": True}
    assert [h["step_id"] for h in state["history"]] == ["ask", "late"]
    assert orjson.loads(state["history"][0]["output"]) == {"timedOut": True}
    assert types(effects) == ["run.resumed", "step.completed", "step.completed",
                              "run.completed"]


def test_timeout_without_a_branch_fails_the_run_and_resume_disarms_it() -> None:
    ask = {**ASK, "config": {**ASK["config"], "timeout": 2}}
    state, _ = machine.apply(None, request({"steps": [ask]}), now=0)
    failed, _ = machine.apply(state, timer("1:human"), now=2000)
    assert failed["status"] == "failed" and "timed out" in failed["error"]
    state, _ = machine.apply(None, request({"steps": [ask]}), now=0)
    state, effects = machine.apply(state, resume(answer_for(state, {"data": {"reason": "r"}})),
                                   now=1000)
    assert effects.clear_timer and state["status"] == "completed"
    late, effects = machine.apply(state, timer("1:human"), now=2000)
    assert late["status"] == "completed" and not effects.changed


def test_end_flow_ends_the_run_with_its_result() -> None:
    steps = [{"id": "a", "type": "transform", "config": {"fields": {"x": "{{input.x}}"}}},
             {"id": "end", "type": "end_flow", "config": {"result": {"y": "{{steps.a.x}}"}}},
             {"id": "never", "type": "transform", "config": {"fields": {}}}]
    state, effects = machine.apply(None, request({"steps": steps}, {"x": 4}), now=1)
    assert state["status"] == "completed" and orjson.loads(state["result"]) == {"y": 4}
    assert [h["step_id"] for h in state["history"]] == ["a", "end"]
    assert types(effects)[-1] == "run.completed"
    plain = [steps[0], {"id": "end", "type": "end-flow"}]
    state, _ = machine.apply(None, request({"steps": plain}, {"x": 4}), now=1)
    assert orjson.loads(state["result"]) == {"x": 4}  # no result template: the last output


def test_003_graph_with_step_level_fields_compiles() -> None:
    definition = {"initialStep": "collect-inputs-1", "steps": [
        {"type": "collect-inputs", "id": "collect-inputs-1",
         "output": {"customerName": {"type": "string", "required": True},
                    "email": {"type": "string"}}},
        {"type": "end-flow", "id": "end-1"}],
        "edges": [{"from": "collect-inputs-1", "to": "end-1"}]}
    state, _ = machine.apply(None, request(definition), now=1)
    assert [f["name"] for f in signal_of(state)["fields"]] == ["customerName", "email"]
    body = {"type": "collect_inputs", "data": {"customerName": "John"}}
    state, _ = machine.apply(state, resume(answer_for(state, body)), now=2)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"customerName": "John"}


def test_a_loop_through_a_human_step_is_allowed_and_a_bad_config_names_the_field() -> None:
    loop = {"initialStep": "ask", "steps": [ASK, DONE],
            "edges": [{"from": "ask", "to": "done"}, {"from": "done", "to": "ask"}]}
    compile_definition(loop)
    bad = [
        ({"id": "x", "type": "collect_inputs", "config": {}}, "steps[0].config.fields"),
        ({"id": "x", "type": "collect_inputs", "config": {"fields": [{"name": "a",
          "type": "colour"}]}}, "steps[0].config.fields[0].type"),
        ({"id": "x", "type": "collect_inputs", "config": {"fields": {"a": {
          "type": "select"}}}}, "steps[0].config.fields.a.options"),
        ({"id": "x", "type": "collect_inputs", "config": {"fields": {"a": {}},
          "timeout": "soon"}}, "steps[0].config.timeout"),
        ({"id": "x", "type": "collect_inputs", "config": {"fields": {"a": {}},
          "timeout": 5, "on_timeout": "nowhere"}}, "steps[0].config.on_timeout"),
        ({"id": "x", "type": "collect_inputs", "config": {"fields": {"a": {}},
          "title": "{{ ][ }}"}}, "steps[0].config.title"),
        ({"id": "x", "type": "request-user-action", "config": {"actions": [{"id": "a"}]}},
         "steps[0].config.actions[0].values"),
        ({"id": "x", "type": "request-user-action", "config": {}}, "steps[0].config.actions"),
        ({"id": "x", "type": "end-flow", "config": {"result": "{{ ][ }}"}},
         "steps[0].config.result"),
    ]
    for step, field in bad:
        with pytest.raises(InvalidDefinition) as caught:
            compile_definition({"steps": [step]})
        assert field in [i.field for i in caught.value.issues], (step, caught.value.issues)


def test_aliases_name_one_module_and_resume_commands_encode() -> None:
    assert registry.get("collect-inputs") is registry.get("collect_inputs")
    assert registry.get("request-user-action") is registry.get("request_user_action")
    assert registry.get("end-flow") is registry.get("end_flow")
    for name in ("collect_inputs", "request_user_action", "end_flow"):
        module = registry.get(name)
        assert module.TITLE and module.CONFIG and module.OUTPUT
    raw = COMMAND.encode(resume({"seq": 1, "stepId": "a", "output": {"x": 1}}))
    assert COMMAND.decode(raw)["kind"] == "resume"


def test_the_signal_never_renders_a_secret() -> None:
    ask = {**ASK, "config": {**ASK["config"], "message": "token {{secrets.api_token}} end"}}
    state, effects = machine.apply(None, request({"steps": [ask]}), now=1)
    assert signal_of(state)["message"] == "token  end"
    assert b"api_token" not in b"".join(effects.events)


def test_an_answer_too_big_for_the_run_state_is_a_400_on_data() -> None:
    """100 fields of 100,000 characters pass each field's check, but the answer is kept
    twice in the run's state (one Kafka record): it is refused before any command."""
    ask = {"id": "ask", "type": "collect_inputs", "config": {
        "fields": [{"name": f"f{i}", "type": "text"} for i in range(5)]}}
    state, _ = machine.apply(None, request({"steps": [ask]}), now=5)
    body = {"data": {f"f{i}": "x" * 90_000 for i in range(5)}}
    with pytest.raises(ResumeInvalid) as caught:
        check_resume(signal_of(state), body)
    assert caught.value.field == "data"
    assert check_resume(signal_of(state), {"data": {"f0": "x" * 90_000}}) == {"f0": "x" * 90_000}
