"""The run state machine alone: transitions, redelivery, retries."""

import orjson

from schemas import codec, run_events
from streams import machine

DISPATCH = codec("step_dispatch")


def request(definition: dict, payload: dict | None = None) -> dict:
    return {"id": "request", "run_id": "r1", "tenant": "t", "ts_ms": 0, "kind": "request",
            "finished": None, "timer_token": None, "reason": None,
            "request": {"workflow_id": "wf", "workflow_version": 1,
                        "definition": orjson.dumps(definition).decode(),
                        "input": orjson.dumps(payload or {}).decode(), "trigger": "manual",
                        "idempotency_key": None, "body_hash": None}}


def finished(seq: int, attempt: int, ok: bool, output=None, retryable=False, step="call") -> dict:
    return {"id": f"fin:{seq}:{attempt}", "run_id": "r1", "tenant": "t", "ts_ms": 0,
            "kind": "step_finished", "request": None, "timer_token": None, "reason": None,
            "finished": {"seq": seq, "step_id": step, "attempt": attempt, "ok": ok,
                         "retryable": retryable, "error": None if ok else "boom",
                         "output": orjson.dumps(output).decode() if ok else None,
                         "request": None, "started_ms": 1, "ended_ms": 2}}


def timer(token: str) -> dict:
    return {"id": f"timer:{token}", "run_id": "r1", "tenant": "t", "ts_ms": 0,
            "kind": "timer_fired", "request": None, "finished": None, "timer_token": token,
            "reason": None}


CALL = {"id": "call", "type": "webhook", "config": {"url": "http://127.0.0.1:1/x"}}
SHAPE = {"id": "shape", "type": "transform", "config": {"fields": {"c": "{{steps.call.body}}"}}}


def test_pure_steps_run_in_place() -> None:
    state, effects = machine.apply(None, request({"steps": [
        {"id": "a", "type": "transform", "config": {"fields": {"e": "{{input.email}}"}}}]},
        {"email": "x@y"}), now=10)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"e": "x@y"}
    assert effects.dispatch is None
    assert types(effects) == ["run.started", "step.completed", "run.completed"]


def test_io_step_dispatch_then_finish() -> None:
    state, effects = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=10)
    assert state["status"] == "running" and state["current_step"] == "call"
    job = DISPATCH.decode(effects.dispatch)
    assert (job["step_id"], job["seq"], job["attempt"]) == ("call", 1, 1)
    state, effects = machine.apply(state, finished(1, 1, True, {"body": 7}), now=20)
    assert state["status"] == "completed"
    assert orjson.loads(state["result"]) == {"c": 7}
    assert [h["status"] for h in state["history"]] == ["completed", "completed"]


def test_redelivered_command_is_applied_once_and_re_emits_its_effects() -> None:
    state, first = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=10)
    again, effects = machine.apply(state, request({"steps": [CALL, SHAPE]}), now=11)
    assert again is state and not effects.changed
    assert effects.dispatch == first.dispatch  # lost sends are sent again
    done, _ = machine.apply(state, finished(1, 1, True, {"body": 1}), now=20)
    history = list(done["history"])
    done2, effects = machine.apply(done, finished(1, 1, True, {"body": 2}), now=21)
    assert done2["history"] == history and not effects.changed


def test_retry_with_backoff_then_fail() -> None:
    definition = {"steps": [CALL], "retry": {"max_retries": 2, "backoff_seconds": 1}}
    state, _ = machine.apply(None, request(definition), now=0)
    now = 0
    for attempt in (1, 2):
        state, effects = machine.apply(state, finished(1, attempt, False, retryable=True), now)
        assert state["status"] == "retrying"
        assert effects.set_timer["due_ms"] == now + 1000 * 2 ** (attempt - 1)
        now = effects.set_timer["due_ms"]
        state, effects = machine.apply(state, timer(effects.set_timer["token"]), now)
        assert state["status"] == "running"
        assert DISPATCH.decode(effects.dispatch)["attempt"] == attempt + 1
    state, effects = machine.apply(state, finished(1, 3, False, retryable=True), now)
    assert state["status"] == "failed"
    assert "after 3 attempts" in state["error"]
    assert [h["attempt"] for h in state["history"]] == [1, 2, 3]


def test_non_retryable_failure_fails_at_once() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL]}), now=0)
    state, _ = machine.apply(state, finished(1, 1, False, retryable=False), now=1)
    assert state["status"] == "failed" and len(state["history"]) == 1


def test_delay_arms_a_timer_and_a_stale_token_is_ignored() -> None:
    definition = {"steps": [{"id": "wait", "type": "delay", "config": {"seconds": 5}}, SHAPE]}
    state, effects = machine.apply(None, request(definition), now=1000)
    assert effects.set_timer["due_ms"] == 6000 and state["history"][0]["status"] == "waiting"
    same, effects = machine.apply(state, timer("0:delay"), now=6000)
    assert same is state and not effects.changed
    state, effects = machine.apply(state, timer(state["timer_token"]), now=6000)
    assert state["status"] == "completed" and effects.clear_timer


def control(kind: str, n: int = 1) -> dict:
    return {"id": f"{kind}:{n}", "run_id": "r1", "tenant": "t", "ts_ms": 0, "kind": kind,
            "request": None, "finished": None, "timer_token": None, "reason": "user"}


def types(effects: machine.Effects) -> list[str]:
    return [run_events.decode(raw)["type"] for raw in effects.events]


def test_cancel_lets_the_step_in_flight_finish_and_records_it() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=0)
    state, effects = machine.apply(state, control("cancel"), now=5)
    assert state["status"] == "running" and state["cancel_reason"] == "user"
    assert effects.events == [] and effects.dispatch is None
    again, effects = machine.apply(state, control("cancel", 2), now=6)
    assert again["cancel_reason"] == "user" and not effects.changed
    state, effects = machine.apply(state, finished(1, 1, True, {"body": 1}), now=7)
    assert state["status"] == "cancelled" and state["error"] == "user"
    assert state["history"][0]["status"] == "completed"  # its result was kept
    assert [h["step_id"] for h in state["history"]] == ["call"]  # "shape" never ran
    assert types(effects) == ["step.completed", "run.cancelled"] and effects.clear_timer


def test_cancel_of_a_failing_step_does_not_retry() -> None:
    definition = {"steps": [CALL], "retry": {"max_retries": 3, "backoff_seconds": 1}}
    state, _ = machine.apply(None, request(definition), now=0)
    state, _ = machine.apply(state, control("cancel"), now=5)
    state, effects = machine.apply(state, finished(1, 1, False, retryable=True), now=7)
    assert state["status"] == "cancelled" and effects.set_timer is None
    assert types(effects) == ["step.failed", "run.cancelled"]


def test_cancel_during_a_delay_stops_at_once() -> None:
    definition = {"steps": [{"id": "w", "type": "delay", "config": {"seconds": 60}}, SHAPE]}
    state, _ = machine.apply(None, request(definition), now=0)
    state, effects = machine.apply(state, control("cancel"), now=5)
    assert state["status"] == "cancelled" and state["history"][0]["status"] == "cancelled"
    assert types(effects) == ["run.cancelled"] and effects.clear_timer


def test_terminate_stops_at_once_and_ignores_the_late_result() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=0)
    state, effects = machine.apply(state, control("terminate"), now=5)
    assert state["status"] == "terminated" and state["history"][0]["status"] == "terminated"
    event = run_events.decode(effects.events[-1])
    assert event["type"] == "run.terminated" and event["data"]["step"]["stepId"] == "call"
    state2, effects = machine.apply(state, finished(1, 1, True, {}), now=6)
    assert state2["status"] == "terminated" and not effects.changed and not effects.events


def test_events_are_numbered_cloudevents_and_resent_on_redelivery() -> None:
    req = request({"steps": [CALL, SHAPE]}, {"email": "a@b"})
    state, effects = machine.apply(None, req, now=1000)
    started = run_events.decode(effects.events[0])
    assert started["specversion"] == "1.0" and started["subject"] == "r1"
    assert started["id"] == "r1:1" and started["sequence"] == 1
    assert started["source"] == "/workflows/wf" and started["tenant"] == "t"
    assert started["time"] == "1970-01-01T00:00:01.000Z"
    assert started["data"]["input"] == {"email": "a@b"}
    done = finished(1, 1, True, {"body": 7})
    state, effects = machine.apply(state, done, now=2000)
    assert types(effects) == ["step.completed", "step.completed", "run.completed"]
    assert [run_events.decode(e)["sequence"] for e in effects.events] == [2, 3, 4]
    step = run_events.decode(effects.events[0])["data"]
    assert step["stepId"] == "call" and step["output"] == {"body": 7}
    assert step["durationMs"] == 1
    _, again = machine.apply(state, done, now=3000)  # the same command, redelivered
    assert again.events == effects.events and not again.changed


def test_retry_emits_step_failed_then_run_retrying() -> None:
    definition = {"steps": [CALL], "retry": {"max_retries": 1, "backoff_seconds": 1}}
    state, _ = machine.apply(None, request(definition), now=0)
    state, effects = machine.apply(state, finished(1, 1, False, retryable=True), now=10)
    assert types(effects) == ["step.failed", "run.retrying"]
    failed = run_events.decode(effects.events[0])["data"]
    assert failed["willRetry"] is True and failed["retryable"] is True
    retrying = run_events.decode(effects.events[1])["data"]
    assert retrying["nextAttempt"] == 2 and retrying["retryAtMs"] == 1010


def test_delete_removes_an_ended_run_and_refuses_an_active_one() -> None:
    state, _ = machine.apply(None, request({"steps": [CALL]}), now=0)
    kept, effects = machine.apply(state, control("delete"), now=1)
    assert kept is state and not effects.delete and effects.warning
    state, _ = machine.apply(state, finished(1, 1, True, {}), now=2)
    gone, effects = machine.apply(state, control("delete", 2), now=3)
    assert gone is None and effects.delete and types(effects) == ["run.deleted"]
    _, effects = machine.apply(None, control("delete", 3), now=4)  # left the live table
    assert effects.delete and types(effects) == ["run.deleted"]


def test_run_aborts_after_too_many_step_executions() -> None:
    definition = {"initialStep": "a", "steps": [
        {"id": "a", "type": "transform", "config": {"fields": {}}},
        {"id": "w", "type": "delay", "config": {"seconds": 0}}],
        "edges": [{"from": "a", "to": "w"}, {"from": "w", "to": "a"}]}
    state, _ = machine.apply(None, request(definition), now=0)
    while state["status"] == "running":
        state, _ = machine.apply(state, timer(state["timer_token"]), now=0)
    assert state["status"] == "failed" and "exceeded" in state["error"]


def test_a_lost_step_result_is_retried_by_the_watchdog() -> None:
    definition = {"steps": [{**CALL, "config": {**CALL["config"], "timeout": 5}}],
                  "retry": {"max_retries": 1, "backoff_seconds": 1}}
    state, effects = machine.apply(None, request(definition), now=0)
    watchdog = effects.set_timer
    assert watchdog["kind"] == "watchdog"
    assert watchdog["due_ms"] == (5 + machine.WATCHDOG_GRACE_SECONDS) * 1000
    state, effects = machine.apply(state, timer(watchdog["token"]), now=watchdog["due_ms"])
    assert state["status"] == "retrying" and "no result" in state["history"][0]["error"]
    assert effects.warning is not None and "watchdog" in effects.warning
    state, effects = machine.apply(state, timer(effects.set_timer["token"]), now=40_000)
    assert DISPATCH.decode(effects.dispatch)["attempt"] == 2
    state, effects = machine.apply(state, finished(1, 2, True, {"body": 1}), now=41_000)
    assert state["status"] == "completed" and effects.clear_timer
    late, effects = machine.apply(state, finished(1, 1, True, {"body": 0}), now=42_000)
    assert late["history"] == state["history"] and not effects.changed


def test_watchdog_is_disarmed_when_the_result_arrives() -> None:
    state, effects = machine.apply(None, request({"steps": [CALL, SHAPE]}), now=0)
    token = effects.set_timer["token"]
    state, effects = machine.apply(state, finished(1, 1, True, {"body": 1}), now=10)
    assert effects.clear_timer and state["timer_token"] is None
    state2, effects = machine.apply(state, timer(token), now=60_000)
    assert state2["status"] == "completed" and not effects.changed


def test_a_lookup_field_is_resolved_into_its_value_at_dispatch() -> None:
    definition = {"steps": [
        {"id": "lookup", "type": "email_lookup", "config": {"field": "input.who.email"}}]}
    _, effects = machine.apply(None, request(definition, {"who": {"email": "a@b.io"}}), now=1)
    config = orjson.loads(DISPATCH.decode(effects.dispatch)["config"])
    assert config == {"field": "input.who.email", "value": "a@b.io"}
    _, effects = machine.apply(None, request(definition, {}), now=1)
    assert orjson.loads(DISPATCH.decode(effects.dispatch)["config"])["value"] is None
