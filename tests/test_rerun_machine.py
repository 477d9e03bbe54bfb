"""Re-runs in the state machine alone: a seed starts at from_step with earlier outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import orjson

from api.rerun import CannotReuse, reused_steps
from schemas import codec, run_events
from streams import machine
from tests.test_machine import CALL, finished, request

COMMAND = codec("run_command")
STATE = codec("run_state")
DISPATCH = codec("step_dispatch")
FLOW = {"steps": [
    {"id": "a", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}},
    CALL,
    {"id": "shape", "type": "transform",
     "config": {"fields": {"a": "{{steps.a.n}}", "c": "{{steps.call.body}}"}}}]}


def seeded(from_step: str | None, reused: list[dict[str, Any]]) -> dict[str, Any]:
    command = request(FLOW, {"n": 5})
    command["request"]["trigger"] = "rerun"
    command["seed"] = {"rerun_of": "r0", "from_step": from_step,
                                  "reused": orjson.dumps(reused).decode()}
    return command


def events(effects: machine.Effects) -> list[dict[str, Any]]:
    return [run_events.decode(raw) for raw in effects.events]


def test_a_rerun_without_from_step_runs_everything_and_names_the_earlier_run() -> None:
    state, effects = machine.apply(None, seeded(None, []), now=10)
    assert state["rerun_of"] == "r0" and state["trigger"] == "rerun"
    started = events(effects)[0]
    assert started["type"] == "run.started" and started["data"]["rerunOf"] == "r0"
    assert [h["step_id"] for h in state["history"]] == ["a", "call"]
    assert STATE.decode(STATE.encode(state))["rerun_of"] == "r0"  # the table keeps it


def test_from_step_reuses_earlier_outputs_and_starts_there() -> None:
    reused = [{"stepId": "a", "stepType": "transform", "output": {"n": 99}}]
    state, effects = machine.apply(None, seeded("call", reused), now=10)
    assert [(h["step_id"], h["status"]) for h in state["history"]] == [
        ("a", "reused"), ("call", "running")]
    assert orjson.loads(state["history"][0]["output"]) == {"n": 99}
    job = DISPATCH.decode(effects.dispatch)
    assert (job["step_id"], job["seq"]) == ("call", 2)
    step = events(effects)[1]
    assert step["type"] == "step.completed"
    assert step["data"]["status"] == "reused" and step["data"]["reusedFrom"] == "r0"
    state, effects = machine.apply(state, finished(2, 1, True, {"body": 7}), now=20)
    assert state["status"] == "completed"
    # the reused output, not the input's n (5), reached the later step's context
    assert orjson.loads(state["result"]) == {"a": 99, "c": 7}


def test_the_seed_survives_the_command_codec() -> None:
    command = seeded("call", [{"stepId": "a", "stepType": "transform", "output": 1}])
    decoded = COMMAND.decode(COMMAND.encode(command))
    assert decoded["seed"]["from_step"] == "call"
    plain = COMMAND.decode(COMMAND.encode(request(FLOW)))
    assert plain["seed"] is None
    state, _ = machine.apply(None, plain, now=1)
    assert state["rerun_of"] is None


def test_an_unknown_from_step_fails_the_run_instead_of_crashing() -> None:
    state, effects = machine.apply(None, seeded("gone", []), now=10)
    assert state["status"] == "failed" and "gone" in state["error"]
    assert [e["type"] for e in events(effects)] == ["run.started", "run.failed"]


def _record(seq: int, step: str, status: str, attempt: int = 1, output: Any = None
            ) -> dict[str, Any]:
    return {"seq": seq, "step_id": step, "step_type": "webhook", "attempt": attempt,
            "status": status, "output": None if output is None else orjson.dumps(output)}


def test_from_step_reuses_the_last_attempt_of_each_execution_before_it() -> None:
    history = [_record(1, "a", "completed", output={"n": 1}),
               _record(2, "call", "failed", 1), _record(2, "call", "completed", 2, {"ok": 1}),
               _record(3, "shape", "failed")]
    assert reused_steps(history, "shape") == [
        {"stepId": "a", "stepType": "webhook", "output": {"n": 1}},
        {"stepId": "call", "stepType": "webhook", "output": {"ok": 1}}]
    assert reused_steps(history, "a") == []
    for bad, why in ((history, "never reached"),
                     ([_record(1, "a", "failed"), _record(2, "shape", "failed")],
                      "did not complete")):
        try:
            reused_steps(bad, "b" if why == "never reached" else "shape")
        except CannotReuse as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{why}: accepted")


def test_a_command_written_before_the_seed_still_decodes() -> None:
    """A request (a fan-out row's, with bulk) queued on run-commands or in the run gate
    during an upgrade: the seed is a trailing top-level field, so schemas/avro.py reads it
    with the older shape. Nested in `request`, it shifted every field after it."""
    raw = json.loads(Path("schemas/run_command.avsc").read_text())
    assert raw["fields"][-1]["name"] == "seed" and raw["fields"][-1]["default"] is None
    raw["fields"] = raw["fields"][:-1]
    for field in raw["fields"]:  # no seed anywhere in the older shape
        for branch in field["type"] if isinstance(field["type"], list) else []:
            if isinstance(branch, dict) and branch.get("name") == "RunRequested":
                branch["fields"] = [f for f in branch["fields"] if f["name"] != "seed"]
    old = {**request(FLOW, {"n": 5}), "bulk": {"job": "job_1", "row": 3}}
    old["request"].pop("seed", None)
    buf = io.BytesIO(b"\x01")
    buf.seek(1)
    fastavro.schemaless_writer(buf, fastavro.parse_schema(raw), old)
    decoded = COMMAND.decode(buf.getvalue())
    assert decoded["bulk"] == {"job": "job_1", "row": 3} and decoded["seed"] is None
    assert decoded["request"]["input"] == old["request"]["input"]
    state, _ = machine.apply(None, decoded, now=1)
    assert state["rerun_of"] is None and state["bulk"] == {"job": "job_1", "row": 3}


BRANCHED = {"steps": [
    {"id": "a", "type": "transform", "config": {"fields": {"n": "{{input.n}}"}}},
    {"id": "check", "type": "condition", "config": {
        "field": "steps.a.n", "op": "equals", "value": 1, "then": "yes", "else": "no"}},
    {"id": "yes", "type": "transform", "config": {"fields": {"way": "yes"}}, "next": "call"},
    {"id": "no", "type": "transform", "config": {"fields": {"way": "no"}}, "next": "call"},
    CALL,
    {"id": "shape", "type": "transform", "config": {"fields": {"way": "{{steps.no.way}}"}}}]}


def test_from_step_after_a_condition_reuses_the_branch_the_earlier_run_took() -> None:
    """The condition is not evaluated again: the re-run has the earlier path's outputs
    (check, no) and nothing of the branch it did not take (yes), and this holds for a
    re-run of a re-run too (its reused executions are reused again)."""
    earlier, _ = machine.apply(None, request(BRANCHED, {"n": 2}), now=1)
    earlier, _ = machine.apply(earlier, finished(4, 1, False), now=2)
    assert earlier["status"] == "failed"
    assert [h["step_id"] for h in earlier["history"]] == ["a", "check", "no", "call"]
    for generation in range(2):
        reused = reused_steps(earlier["history"], "call")
        assert [r["stepId"] for r in reused] == ["a", "check", "no"]
        command = request(BRANCHED, {"n": 1})  # an input that would take the other branch
        command["seed"] = {"rerun_of": f"r{generation}", "from_step": "call",
                           "reused": orjson.dumps(reused).decode()}
        state, _ = machine.apply(None, command, now=10)
        assert [(h["step_id"], h["status"]) for h in state["history"]] == [
            ("a", "reused"), ("check", "reused"), ("no", "reused"), ("call", "running")]
        assert "yes" not in orjson.loads(state["outputs"])
        done, _ = machine.apply(state, finished(4, 1, True, {"body": 1}), now=20)
        assert done["status"] == "completed" and orjson.loads(done["result"]) == {"way": "no"}
        call = {**done["history"][-2], "status": "failed"}  # as if call failed again
        earlier = {**done, "history": [*done["history"][:-2], call]}
