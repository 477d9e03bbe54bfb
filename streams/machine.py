"""The run state machine: (state, command) -> (state, effects), with no I/O.

The run agent applies the effects (table writes, sends). Keeping the
transition pure makes it testable alone and makes redelivery safe: a command
is applied at most once (its id is remembered), and a redelivery of the last
command re-emits that command's effects, because a crash may have lost them
after the state was already saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from time import perf_counter
from typing import Any

import orjson

from schemas import codec
from schemas import run_events as ev
from schemas import statuses as st
from steps import registry
from steps.base import PERMANENT, TRANSIENT, StepFailed
from steps.delay import seconds as delay_seconds
from steps.graph import Graph, compile_definition
from steps.human import signal as pause_signal
from steps.human import timeout_seconds
from steps.templates import TemplateError, render, render_string
from steps.text_template import render_text

MAX_STEP_EXECUTIONS = 1000
# An I/O step whose result has not come back this long after its own timeout is
# retried: at-least-once hops can still lose a message (see README), and a run
# must never wait forever for it.
WATCHDOG_GRACE_SECONDS = 30.0
DEFAULT_STEP_TIMEOUT_SECONDS = 10.0
_DISPATCH = codec("step_dispatch")
_UNSET: Any = object()
_NO_RESULT = ("condition", "delay", "end_flow", "end-flow")  # never the run's result
BULK_OUTPUT_MAX = 8 * 1024  # a fan-out run's result in its bulk row (the download's cell)


@dataclass
class Effects:
    """What the agent must do after saving the new state."""

    dispatch: bytes | None = None
    set_timer: dict[str, Any] | None = None
    clear_timer: bool = False
    events: list[bytes] = field(default_factory=list)  # encoded RunEvents, in order
    changed: bool = False
    delete: bool = False  # remove the run from the live table
    watchdog: bool = False  # the step watchdog fired (counted for operators)
    orphan: bool = False  # a command for a run this worker has no state for
    warning: str | None = None  # worth an operator's attention (the agent logs it)
    bulk_report: dict[str, Any] | None = None  # a fan-out run's end: its bulk job's row result
    # For metrics (the run agent counts them only when `changed`, so a redelivery counts once):
    started: bool = False  # this transition started the run
    ended: bool = False  # this transition ended it (its status is in the saved state)
    # step attempts that ended here: (step_type, outcome ok|failed|retried, seconds); None
    # until the first, so a transition without one allocates nothing
    steps_done: list[tuple[str, str, float]] | None = None


@lru_cache(maxsize=1024)
def graph_for(definition: str) -> Graph:
    """Compiled graphs by definition text: a run pins its definition, many runs share one."""
    return compile_definition(orjson.loads(definition))


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _emit(state: dict[str, Any], effects: Effects, type: str, now: int,
          data: dict[str, Any]) -> None:
    """Append one lifecycle event; it is also kept in the state's outbox for redelivery."""
    state["event_seq"] += 1
    raw = ev.encode(run_id=state["run_id"], sequence=state["event_seq"], type=type,
                    tenant=state["tenant"], workflow_id=state["workflow_id"],
                    workflow_version=state["workflow_version"], time_ms=now, data=data)
    effects.events.append(raw)
    state["event_outbox"].append(raw)


def _fragment(text: str | None) -> Any:
    """Stored JSON text embedded as-is in an event (no parse and re-dump)."""
    return None if text is None else orjson.Fragment(text)


def _step_data(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ended = record["ended_ms"]
    data = {"seq": record["seq"], "stepId": record["step_id"], "stepType": record["step_type"],
            "attempt": record["attempt"], "status": record["status"],
            "startedMs": record["started_ms"], "endedMs": ended,
            "durationMs": None if ended is None else ended - record["started_ms"],
            "output": _fragment(record["output"]), "error": record["error"],
            "request": _fragment(record["request"]), **extra}
    if record.get("error_class") is not None:
        data["errorClass"] = record["error_class"]
    return data


def _step_event(state: dict[str, Any], effects: Effects, record: dict[str, Any], now: int,
                *, seconds: float | None = None, **extra: Any) -> None:
    """Emit a step's end; also noted in effects.steps_done for the step metrics.

    `seconds` is an inline step's measured time (its ms timestamps are both `now`); an
    I/O step's comes from the executor's timestamps.
    """
    ok = record["status"] in (st.COMPLETED, st.REUSED)
    _emit(state, effects, ev.STEP_COMPLETED if ok else ev.STEP_FAILED, now,
          _step_data(record, **extra))
    if record["status"] == st.REUSED:  # a re-run's earlier output: nothing ran
        return
    if seconds is None:
        ended = record["ended_ms"]
        seconds = 0.0 if ended is None else max(0, ended - record["started_ms"]) / 1000
    outcome = "ok" if ok else ("retried" if extra.get("willRetry") else "failed")
    if effects.steps_done is None:
        effects.steps_done = []
    effects.steps_done.append((record["step_type"], outcome, seconds))


class _Run:
    """A decoded view of a run state for one transition."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.graph = graph_for(state["definition"])
        self.input = orjson.loads(state["input"])
        self.outputs: dict[str, Any] = orjson.loads(state["outputs"])

    def context(self) -> dict[str, Any]:
        s = self.state
        return {"input": self.input, "event": self.input, "steps": self.outputs,
                "secrets": {},
                "run": {"id": s["run_id"], "workflow_id": s["workflow_id"],
                        "version": s["workflow_version"], "attempt": s["attempt"]}}

    def save(self, now: int, command_id: str) -> dict[str, Any]:
        self.state["outputs"] = _dumps(self.outputs)
        self.state["updated_ms"] = now
        self.state["last_command"] = command_id
        return self.state


def apply(state: dict[str, Any] | None, command: dict[str, Any], now: int
          ) -> tuple[dict[str, Any] | None, Effects]:
    """Apply one command; returns the state to save (maybe unchanged) and the effects."""
    kind = command["kind"]
    if kind == "request":
        if state is not None:
            return state, _redelivery(state, command)
        return _start(command, now)
    if kind == "delete":
        return _delete(state, command, now)
    if state is None:
        # The run left the live table long ago, or its state write was lost (see README:
        # Delivery guarantees); either way nothing can move it: say so.
        return None, Effects(orphan=True, warning=f"{kind} for a run with no live state "
                                                  f"(command {command['id']}) ignored")
    if state["status"] in st.TERMINAL:
        return state, _redelivery(state, command)
    if kind == "step_finished":
        return _step_finished(state, command, now)
    if kind == "timer_fired":
        return _timer_fired(state, command, now)
    if kind == "cancel":
        return _cancel(state, command, now)
    if kind == "terminate":
        return _terminate(state, command, now)
    if kind == "resume":
        return _resume(state, command, now)
    return state, Effects(warning=f"unknown command kind {kind!r} ignored")


def _redelivery(state: dict[str, Any], command: dict[str, Any]) -> Effects:
    """Effects to re-send when `command` is the last one applied; nothing otherwise."""
    if command["id"] != state["last_command"]:
        return Effects()  # stale: applied long ago, nothing to re-send
    effects = Effects(dispatch=state.get("outbox"), events=list(state["event_outbox"]))
    if state.get("bulk") is not None and state["status"] in st.TERMINAL:
        effects.bulk_report = bulk_report(state)  # the crash may have lost the first one
    if state.get("timer_token"):
        effects.set_timer = _timer(state, state["timer_token"], state["timer_due_ms"])
    return effects


def _start(command: dict[str, Any], now: int) -> tuple[dict[str, Any], Effects]:
    req = command["request"]
    state = {
        "run_id": command["run_id"], "tenant": command["tenant"],
        "workflow_id": req["workflow_id"], "workflow_version": req["workflow_version"],
        "trigger": req["trigger"], "status": st.RUNNING, "definition": req["definition"],
        "input": req["input"], "outputs": "{}", "current_step": None, "seq": 0, "attempt": 0,
        "history": [], "result": None, "error": None,
        "idempotency_key": req["idempotency_key"], "body_hash": req["body_hash"],
        "last_command": command["id"], "outbox": None, "timer_token": None,
        "timer_due_ms": None, "created_ms": now, "updated_ms": now, "ended_ms": None,
        "event_seq": 0, "event_outbox": [], "cancel_reason": None, "partition": -1,
        "gate": req.get("gate"), "bulk": command.get("bulk"),
        "rerun_of": None,
    }
    seed = command.get("seed")  # a trailing field of the command (schemas/avro.py), not of req
    if seed is not None:
        state["rerun_of"] = seed["rerun_of"]
    run = _Run(state)
    effects = Effects(changed=True, started=True)
    started = {"trigger": req["trigger"], "input": orjson.Fragment(req["input"]),
               "idempotencyKey": req["idempotency_key"], "bodyHash": req["body_hash"],
               "createdMs": now, "actor": req.get("actor")}
    if seed is not None:
        started["rerunOf"] = seed["rerun_of"]
    _emit(state, effects, ev.RUN_STARTED, now, started)
    first = run.graph.initial
    if seed is not None and seed.get("from_step") is not None:
        first = seed["from_step"]
        if first not in run.graph.steps:  # the API checks; a stale request must not crash
            _finish(run, st.FAILED, now, effects,
                    error=f"re-run from step {first!r}: no such step in version "
                          f"{state['workflow_version']}")
            return run.save(now, command["id"]), effects
        _reuse(run, _loads(seed.get("reused") or "[]"), now, effects)
    _advance(run, first, now, effects)
    return run.save(now, command["id"]), effects


def _reuse(run: _Run, reused: list[dict[str, Any]], now: int, effects: Effects) -> None:
    """A re-run from a step: the earlier run's outputs of the steps before it, not run again.

    Each is recorded as a `reused` step execution (zero length, at the start) with
    its earlier output, and is in the context as `steps.<id>` for what follows.
    """
    state = run.state
    for item in reused:
        state["seq"] += 1
        output = item.get("output")
        record = {"seq": state["seq"], "step_id": item["stepId"], "step_type": item["stepType"],
                  "attempt": 1, "status": st.REUSED, "started_ms": now, "ended_ms": now,
                  "output": _dumps(output), "error": None, "request": None,
                  "error_class": None}
        state["history"].append(record)
        run.outputs[item["stepId"]] = output
        _step_event(state, effects, record, now, reusedFrom=state["rerun_of"])


def _advance(run: _Run, step_id: str | None, now: int, effects: Effects) -> None:
    """Run pure steps in place until an I/O step, a delay, or the end."""
    state = run.state
    state["outbox"] = None
    while step_id is not None:
        if state["seq"] >= MAX_STEP_EXECUTIONS:
            _finish(run, st.FAILED, now, effects,
                    error=f"run exceeded {MAX_STEP_EXECUTIONS} step executions")
            return
        step = run.graph.steps[step_id]
        module = registry.get(step.type)
        state["seq"] += 1
        state["attempt"] = 1
        state["current_step"] = step_id
        record = {"seq": state["seq"], "step_id": step_id, "step_type": step.type, "attempt": 1,
                  "status": st.RUNNING, "started_ms": now, "ended_ms": None, "output": None,
                  "error": None, "request": None, "error_class": None}
        state["history"].append(record)
        if module.kind == "pure":
            t0 = perf_counter()  # a clock read, not I/O: the inline step's time for metrics
            try:
                output = module.execute(step.config, run.context())
                if step.output_template is not None:
                    output = _with_rendered(run, step_id, step.output_template, output)
            except (TemplateError, StepFailed, ValueError, TypeError) as exc:
                _step_error(run, record, now, f"{type(exc).__name__}: {exc}")
                _step_event(state, effects, record, now, seconds=perf_counter() - t0,
                            retryable=False)
                _finish(run, st.FAILED, now, effects, error=f"step {step_id} failed: {exc}")
                return
            record.update(status=st.COMPLETED, ended_ms=now, output=_dumps(output))
            _step_event(state, effects, record, now, seconds=perf_counter() - t0)
            run.outputs[step_id] = output
            step_id = run.graph.successor(step_id, output, run.context())
            continue
        if module.kind == "delay":
            wait_ms = int(delay_seconds(step.config) * 1000)
            record["status"] = st.WAITING
            _arm_timer(run, f"{state['seq']}:delay", now + wait_ms, "delay", effects)
            return
        if module.kind == "human":
            _pause(run, module, record, now, effects)
            return
        if module.kind == "end":
            _end_flow(run, module, record, now, effects)
            return
        _dispatch(run, step_id, record, now, effects)
        return
    _finish(run, st.COMPLETED, now, effects)


def _pause(run: _Run, module: Any, record: dict[str, Any], now: int, effects: Effects) -> None:
    """Wait for a person: the step waits, the run is paused, the signal says what is awaited.

    The signal is kept as the waiting step's `request` (what was asked), so the
    run state needs no field of its own. No watchdog: only a resume, the
    optional timeout, a cancel or a terminate moves the run on.
    """
    state = run.state
    step = run.graph.steps[record["step_id"]]
    wait = timeout_seconds(step.config)
    expires = None if wait is None else now + int(wait * 1000)
    try:
        signal = pause_signal(module.PAUSE_TYPE, step.id, step.type, step.config, run.context(),
                              module.awaited(step.config), expires)
    except TemplateError as exc:
        _step_error(run, record, now, f"TemplateError: {exc}")
        _step_event(state, effects, record, now, retryable=False)
        _finish(run, st.FAILED, now, effects, error=f"step {step.id} failed: {exc}")
        return
    record.update(status=st.WAITING, request=_dumps(signal))
    state["status"] = st.PAUSED
    _emit(state, effects, ev.RUN_PAUSED, now, {"stepId": step.id, "seq": record["seq"],
                                               "pauseSignal": signal})
    if expires is not None:
        _arm_timer(run, f"{record['seq']}:human", expires, "human", effects)


def _end_flow(run: _Run, module: Any, record: dict[str, Any], now: int,
              effects: Effects) -> None:
    """end_flow: record the step, then end the run with its result (if it has one)."""
    state = run.state
    step = run.graph.steps[record["step_id"]]
    try:
        output = module.execute(step.config, run.context())
    except (TemplateError, ValueError, TypeError) as exc:
        _step_error(run, record, now, f"{type(exc).__name__}: {exc}")
        _step_event(state, effects, record, now, retryable=False)
        _finish(run, st.FAILED, now, effects, error=f"step {step.id} failed: {exc}")
        return
    if _complete_in_place(run, record, output, now, effects) is _UNSET:
        return
    _finish(run, st.COMPLETED, now, effects,
            result=output["result"] if "result" in step.config else _UNSET)


def _complete_in_place(run: _Run, record: dict[str, Any], output: Any, now: int,
                       effects: Effects) -> Any:
    """Complete a step that ends in the run agent (delay, human, end_flow) with `output`.

    Its output_template renders here as for any other step; a render error fails
    the step and the run, like a pure step's (then _UNSET, else the output).
    """
    state = run.state
    step_id = record["step_id"]
    template = run.graph.steps[step_id].output_template
    if template is not None:
        try:
            output = _with_rendered(run, step_id, template, output)
        except TemplateError as exc:
            _step_error(run, record, now, f"output template failed: {exc}")
            _step_event(state, effects, record, now, retryable=False)
            _finish(run, st.FAILED, now, effects,
                    error=f"step {step_id} failed: output template failed: {exc}")
            return _UNSET
    record.update(status=st.COMPLETED, ended_ms=now, output=_dumps(output))
    run.outputs[step_id] = output
    _step_event(state, effects, record, now)
    return output


def _with_rendered(run: _Run, step_id: str, template: str, output: Any) -> Any:
    """The output plus `rendered`: the step's output_template (004's OutputTemplate).

    Rendered with this step's output as `output` and `steps.<id>`; no secrets
    (the run agent never holds them), so nothing secret lands in the text.
    """
    context = run.context()
    context["steps"] = {**run.outputs, step_id: output}
    context["output"] = output
    text = render_text(template, context)
    return {**output, "rendered": text} if isinstance(output, dict) else {
        "value": output, "rendered": text}


def _dispatch(run: _Run, step_id: str, record: dict[str, Any], now: int,
              effects: Effects) -> None:
    """Render the step's config and send it to the executors (a bad template fails the run)."""
    state = run.state
    step = run.graph.steps[step_id]
    try:
        # {{secrets...}} stay placeholders: only the executor decrypts (steps/templates.py)
        config = render(step.config, run.context(), keep_secrets=True)
        if getattr(registry.get(step.type), "field_is_input", False) and "field" in config:
            # a lookup's `field` path is resolved here, like a "{{path}}" value would be
            config["value"] = render_string(f"{{{{{config['field']}}}}}", run.context(),
                                            keep_secrets=True)
    except TemplateError as exc:
        _step_error(run, record, now, f"TemplateError: {exc}")
        _step_event(state, effects, record, now, retryable=False)
        _finish(run, st.FAILED, now, effects, error=f"step {step_id} failed: {exc}")
        return
    dispatch = _DISPATCH.encode({
        "run_id": state["run_id"], "tenant": state["tenant"], "seq": state["seq"],
        "step_id": step_id, "step_type": step.type, "attempt": state["attempt"],
        "config": _dumps(config), "dispatched_ms": now, "workflow_id": state["workflow_id"]})
    state["outbox"] = dispatch
    effects.dispatch = dispatch
    timeout = float(config.get("timeout", DEFAULT_STEP_TIMEOUT_SECONDS))
    due = now + int((timeout + WATCHDOG_GRACE_SECONDS) * 1000)
    _arm_timer(run, f"{state['seq']}:{state['attempt']}:watchdog", due, "watchdog", effects)


def _step_error(run: _Run, record: dict[str, Any], now: int, error: str) -> None:
    """A failure no retry can mend (a pure step's error, a template that does not render)."""
    record.update(status=st.FAILED, ended_ms=now, error=error, error_class=PERMANENT)


def _arm_timer(run: _Run, token: str, due_ms: int, kind: str, effects: Effects) -> None:
    run.state["timer_token"] = token
    run.state["timer_due_ms"] = due_ms
    effects.set_timer = _timer(run.state, token, due_ms, kind)


def _timer(state: dict[str, Any], token: str, due_ms: int, kind: str | None = None
           ) -> dict[str, Any]:
    kind = kind or token.rsplit(":", 1)[-1]
    return {"run_id": state["run_id"], "tenant": state["tenant"], "token": token,
            "due_ms": due_ms, "kind": kind}


def _result(run: _Run) -> Any:
    template = orjson.loads(run.state["definition"]).get("output")
    if template is not None:
        return render(template, run.context())
    for record in reversed(run.state["history"]):
        if record["status"] == st.COMPLETED and record["step_type"] not in _NO_RESULT:
            return _loads(record["output"])
    return None


def _finish(run: _Run, status: str, now: int, effects: Effects, error: str | None = None,
            step: dict[str, Any] | None = None, result: Any = _UNSET) -> None:
    """End the run; `step` is a step execution cut short by it (shown in the event).

    `result` (an end_flow's) replaces the result the run would otherwise have.
    """
    state = run.state
    state.update(status=status, current_step=None, outbox=None, ended_ms=now, error=error)
    if state.get("timer_token"):
        effects.clear_timer = True
    state["timer_token"] = None
    state["timer_due_ms"] = None
    if status == st.COMPLETED:
        try:
            state["result"] = _dumps(_result(run) if result is _UNSET else result)
        except TemplateError as exc:
            state.update(status=st.FAILED, error=f"output template failed: {exc}")
    effects.dispatch = None
    state["cancel_reason"] = None
    data: dict[str, Any] = {"status": state["status"], "createdMs": state["created_ms"],
                            "endedMs": now, "durationMs": now - state["created_ms"],
                            "result": _fragment(state["result"]), "error": state["error"]}
    if step is not None:
        data["step"] = _step_data(step)
    if state["trigger"] == ev.TEST_TRIGGER:  # the history store leaves test runs out of health
        data["test"] = True
    _emit(state, effects, ev.TERMINAL_TYPES[state["status"]], now, data)
    effects.ended = True
    if state.get("bulk") is not None:
        effects.bulk_report = bulk_report(state)


def bulk_report(state: dict[str, Any]) -> dict[str, Any]:
    """An ended fan-out run as its bulk job's row result (bulk_control BulkResult).

    ok means completed; the output names the run and carries its result, capped
    (a longer result is replaced by a note: the run's own record has it whole)."""
    result = state.get("result")
    if result is not None and len(result) > BULK_OUTPUT_MAX:
        result = _dumps({"truncated": True, "bytes": len(result),
                         "see": f"/api/runs/{state['run_id']}"})
    output = ('{"run_id":' + _dumps(state["run_id"]) + ',"status":' + _dumps(state["status"])
              + ',"result":' + (result if result is not None else "null") + "}")
    ok = state["status"] == st.COMPLETED
    return {"index": state["bulk"]["row"], "ok": ok, "output": output,
            "error": None if ok else (state.get("error") or state["status"])[:500],
            "credits": 0}


def _current(state: dict[str, Any]) -> dict[str, Any] | None:
    return state["history"][-1] if state["history"] else None


def _step_finished(state: dict[str, Any], command: dict[str, Any], now: int
                   ) -> tuple[dict[str, Any], Effects]:
    fin = command["finished"]
    record = _current(state)
    if (record is None or record["status"] != st.RUNNING or record["seq"] != fin["seq"]
            or record["attempt"] != fin["attempt"] or record["step_id"] != fin["step_id"]):
        return state, _redelivery(state, command)
    run = _Run(state)
    effects = _transition(state)
    _disarm_timer(run, effects)  # the step's watchdog
    record.update(ended_ms=fin["ended_ms"], started_ms=fin["started_ms"], request=fin["request"])
    state["outbox"] = None
    if fin["ok"]:
        output = _loads(fin["output"])
        template = run.graph.steps[fin["step_id"]].output_template
        if template is not None:
            try:
                output = _with_rendered(run, fin["step_id"], template, output)
            except TemplateError as exc:  # the template, not the peer: no retry helps
                record["output"] = fin["output"]
                _attempt_failed(run, record, f"output template failed: {exc}", False, now,
                                effects, credits=fin.get("credits") or 0)  # the call was made
                return run.save(now, command["id"]), effects
            fin = {**fin, "output": _dumps(output)}
        record.update(status=st.COMPLETED, output=fin["output"])
        run.outputs[fin["step_id"]] = output
        state["status"] = st.RUNNING
        _step_event(state, effects, record, now, credits=fin.get("credits") or 0)
        if state["cancel_reason"] is not None:
            _finish(run, st.CANCELLED, now, effects, error=state["cancel_reason"])
        else:
            _advance(run, run.graph.successor(fin["step_id"], output, run.context()), now,
                     effects)
        return run.save(now, command["id"]), effects
    record["output"] = fin["output"]  # what the peer answered, for the step log
    retry_after_ms = fin.get("retry_after_ms")
    _attempt_failed(run, record, fin["error"] or "failed", fin["retryable"], now, effects,
                    retry_after=None if retry_after_ms is None else retry_after_ms / 1000,
                    credits=fin.get("credits") or 0)
    return run.save(now, command["id"]), effects


def _attempt_failed(run: _Run, record: dict[str, Any], error: str, retryable: bool, now: int,
                    effects: Effects, retry_after: float | None = None,
                    credits: int | None = None) -> None:
    """Retry a transient failure after a backoff timer while the budget lasts, else fail.

    The wait is the policy's backoff, or the peer's Retry-After when longer (capped,
    steps/graph.py RetryPolicy.wait). A permanent failure never retries.
    """
    state = run.state
    record.update(status=st.FAILED, error=error,
                  error_class=TRANSIENT if retryable else PERMANENT)
    if record["ended_ms"] is None:
        record["ended_ms"] = now
    state["outbox"] = None
    policy = run.graph.retry
    attempt = record["attempt"]
    will_retry = (retryable and attempt <= policy.max_retries
                  and state["cancel_reason"] is None)
    extra: dict[str, Any] = {} if credits is None else {"credits": credits}
    _step_event(state, effects, record, now, retryable=retryable, willRetry=will_retry, **extra)
    if will_retry:
        state["status"] = st.RETRYING
        due = now + int(policy.wait(attempt, retry_after) * 1000)
        _arm_timer(run, f"{record['seq']}:{attempt}:retry", due, "retry", effects)
        retrying = {"stepId": record["step_id"], "seq": record["seq"], "attempt": attempt,
                    "nextAttempt": attempt + 1, "retryAtMs": due, "error": error,
                    "errorClass": TRANSIENT}
        if retry_after is not None:
            retrying["retryAfterMs"] = int(retry_after * 1000)
        _emit(state, effects, ev.RUN_RETRYING, now, retrying)
    elif state["cancel_reason"] is not None:
        _finish(run, st.CANCELLED, now, effects, error=state["cancel_reason"])
    else:
        _finish(run, st.FAILED, now, effects,
                error=f"step {record['step_id']} failed after {attempt} attempt"
                      f"{'s' if attempt > 1 else ''}: {error}")


def _disarm_timer(run: _Run, effects: Effects) -> None:
    if run.state.get("timer_token"):
        run.state["timer_token"] = None
        run.state["timer_due_ms"] = None
        effects.clear_timer = True


def _timer_fired(state: dict[str, Any], command: dict[str, Any], now: int
                 ) -> tuple[dict[str, Any], Effects]:
    token = command["timer_token"]
    if not token or token != state.get("timer_token"):
        return state, _redelivery(state, command)
    run = _Run(state)
    effects = _transition(state)
    effects.clear_timer = True
    state["timer_token"] = None
    state["timer_due_ms"] = None
    record = _current(state)
    assert record is not None
    step_id = record["step_id"]
    if token.endswith(":watchdog"):
        waited_s = (now - record["started_ms"]) / 1000
        _attempt_failed(run, record, f"no result {waited_s:.0f} s after dispatch (lost in "
                                     "transit, or the executor died)", True, now, effects)
        effects.watchdog = True
        effects.warning = (f"watchdog: no result for step {step_id} attempt "
                           f"{record['attempt']} after {waited_s:.0f} s; run is now "
                           f"{state['status']}")
        return run.save(now, command["id"]), effects
    if token.endswith(":delay"):
        waited = now - record["started_ms"]
        output = _complete_in_place(run, record, {"waited_ms": waited}, now, effects)
        if output is not _UNSET:
            _advance(run, run.graph.successor(step_id, output, run.context()), now, effects)
        return run.save(now, command["id"]), effects
    if token.endswith(":human"):
        _timed_out(run, record, now, effects)
        return run.save(now, command["id"]), effects
    # a retry: a new attempt of the same step execution
    state["status"] = st.RUNNING
    state["attempt"] = record["attempt"] + 1
    retry = {"seq": record["seq"], "step_id": step_id, "step_type": record["step_type"],
             "attempt": state["attempt"], "status": st.RUNNING, "started_ms": now,
             "ended_ms": None, "output": None, "error": None, "request": None,
             "error_class": None}
    state["history"].append(retry)
    _dispatch(run, step_id, retry, now, effects)
    return run.save(now, command["id"]), effects


def _timed_out(run: _Run, record: dict[str, Any], now: int, effects: Effects) -> None:
    """A human step's timeout: its on_timeout step, or (without one) a failed run."""
    state = run.state
    step_id = record["step_id"]
    target = run.graph.steps[step_id].config.get("on_timeout")
    waited_s = (now - record["started_ms"]) / 1000
    state["status"] = st.RUNNING
    if target is None:
        _step_error(run, record, now, f"timed out after {waited_s:.0f} s waiting for a person")
        _step_event(state, effects, record, now, retryable=False)
        _finish(run, st.FAILED, now, effects, error=f"step {step_id} timed out waiting for "
                                                    "a person (it has no on_timeout step)")
        return
    _emit(state, effects, ev.RUN_RESUMED, now, {"stepId": step_id, "seq": record["seq"],
                                                "timedOut": True})
    if _complete_in_place(run, record, {"timedOut": True}, now, effects) is not _UNSET:
        _advance(run, target, now, effects)


def _resume(state: dict[str, Any], command: dict[str, Any], now: int
            ) -> tuple[dict[str, Any], Effects]:
    """A person answered: applied only if the run still waits at that step execution.

    The API has checked the answer against the pause signal; a resume for
    another step, a second resume, or a redelivery changes nothing.
    """
    body = _loads(command.get("payload")) or {}
    record = _current(state)
    if (state["status"] != st.PAUSED or record is None or record["status"] != st.WAITING
            or record["seq"] != body.get("seq") or record["step_id"] != body.get("stepId")):
        return state, _redelivery(state, command)
    run = _Run(state)
    effects = _transition(state)
    _disarm_timer(run, effects)  # the timeout
    output = body.get("output")
    step_id = record["step_id"]
    state["status"] = st.RUNNING
    _emit(state, effects, ev.RUN_RESUMED, now, {"stepId": step_id, "seq": record["seq"],
                                                "actor": body.get("actor")})
    output = _complete_in_place(run, record, output, now, effects)
    if output is not _UNSET:
        _advance(run, run.graph.successor(step_id, output, run.context()), now, effects)
    return run.save(now, command["id"]), effects


def _cancel(state: dict[str, Any], command: dict[str, Any], now: int
            ) -> tuple[dict[str, Any], Effects]:
    """Graceful: a step in flight finishes and is recorded, then the run stops."""
    reason = command.get("reason") or "cancelled"
    record = _current(state)
    if record is not None and record["status"] == st.RUNNING:
        if state["cancel_reason"] is not None:
            return state, _redelivery(state, command)
        effects = _transition(state)
        state["cancel_reason"] = reason
        state["updated_ms"] = now
        state["last_command"] = command["id"]
        return state, effects
    return _stop(state, command, now, st.CANCELLED, reason)


def _terminate(state: dict[str, Any], command: dict[str, Any], now: int
               ) -> tuple[dict[str, Any], Effects]:
    """At once: a step in flight is abandoned and its late result ignored."""
    return _stop(state, command, now, st.TERMINATED, command.get("reason") or "terminated")


def _stop(state: dict[str, Any], command: dict[str, Any], now: int, status: str, reason: str
          ) -> tuple[dict[str, Any], Effects]:
    run = _Run(state)
    effects = _transition(state)
    record = _current(state)
    cut = None
    if record is not None and record["status"] in (st.RUNNING, st.WAITING):
        record.update(status=st.CANCELLED if status == st.CANCELLED else st.TERMINATED,
                      ended_ms=now)
        cut = record
    _finish(run, status, now, effects, error=reason, step=cut)
    return run.save(now, command["id"]), effects


def _delete(state: dict[str, Any] | None, command: dict[str, Any], now: int
            ) -> tuple[dict[str, Any] | None, Effects]:
    """Remove an ended run everywhere: the live table here, the history store via the event.

    The API refuses active runs with 409; one that became active meanwhile is kept.
    """
    if state is not None and state["status"] not in st.TERMINAL:
        return state, Effects(warning="delete of an active run ignored")
    if state is None:  # already left the live table: only the history store has it
        state = {"run_id": command["run_id"], "tenant": command["tenant"],
                 "workflow_id": command.get("workflow_id") or "", "workflow_version": 0,
                 "event_seq": 1_000_000, "event_outbox": []}
    effects = Effects(delete=True)
    _emit(state, effects, ev.RUN_DELETED, now, {})
    return None, effects


def _transition(state: dict[str, Any]) -> Effects:
    """Effects of a transition that changes the state: last transition's events are done."""
    state["event_outbox"] = []
    return Effects(changed=True)
