"""Workflow fan-out, the pure parts: a run's bulk report, old records, the trigger's field."""

import io
import json

import fastavro
import orjson

from schemas import codec
from steps import file_trigger
from streams import machine
from streams.bulk import jobs
from tests.test_machine import CALL, finished, request

RUN_STATE = codec("run_state")
RUN_COMMAND = codec("run_command")


def bulk_request(definition: dict, payload: dict | None = None, row: int = 3) -> dict:
    return {**request(definition, payload), "bulk": {"job": "job_1", "row": row}}


def cancel() -> dict:
    return {"id": "cancel:1", "run_id": "r1", "tenant": "t", "ts_ms": 0, "kind": "cancel",
            "reason": "stop"}


def test_a_bulk_run_reports_once_on_its_terminal_transition() -> None:
    state, effects = machine.apply(None, bulk_request({"steps": [CALL]}), now=10)
    assert state["bulk"] == {"job": "job_1", "row": 3}
    assert effects.bulk_report is None  # running: nothing to report yet
    state, effects = machine.apply(state, finished(1, 1, True, {"body": {"x": 1}}), now=20)
    assert state["status"] == "completed"
    report = effects.bulk_report
    assert report is not None and report["index"] == 3 and report["ok"] is True
    assert report["credits"] == 0 and report["error"] is None
    assert orjson.loads(report["output"]) == {"run_id": "r1", "status": "completed",
                                              "result": {"body": {"x": 1}}}
    # a later, different command to the ended run reports nothing again
    _, later = machine.apply(state, cancel(), now=30)
    assert later.bulk_report is None
    # the redelivered terminal command re-sends it (the first send may have been lost) ...
    _, again = machine.apply(state, finished(1, 1, True, {"body": {"x": 1}}), now=31)
    assert again.bulk_report == report
    # ... and the job's bitmap counts the row once
    job = jobs.started(jobs.new_job("t", "workflow", 5, 0), 1)
    job = jobs.apply_results(job, [report], 2).job
    assert jobs.apply_results(job, [again.bulk_report], 3).job is job
    assert job["processed"] == 1 and job["failed"] == 0


def test_a_failed_or_cancelled_bulk_run_reports_a_failed_row() -> None:
    state, _ = machine.apply(None, bulk_request({"steps": [CALL]}), now=10)
    state, effects = machine.apply(state, finished(1, 1, False), now=20)
    assert state["status"] == "failed"
    assert effects.bulk_report["ok"] is False and "boom" in effects.bulk_report["error"]
    state, _ = machine.apply(None, bulk_request({"steps": [CALL]}), now=10)
    state, effects = machine.apply(state, {**cancel(), "kind": "terminate"}, now=20)
    assert effects.bulk_report["ok"] is False
    assert orjson.loads(effects.bulk_report["output"])["status"] == "terminated"


def test_a_run_in_place_reports_at_once_and_a_big_result_is_capped() -> None:
    big = "x" * (machine.BULK_OUTPUT_MAX + 10)
    _, effects = machine.apply(None, bulk_request({"steps": [
        {"id": "a", "type": "transform", "config": {"fields": {"v": "{{input.v}}"}}}]},
        {"v": big}), now=10)
    output = orjson.loads(effects.bulk_report["output"])
    assert output["result"]["truncated"] is True and "/api/runs/r1" in output["result"]["see"]
    assert len(effects.bulk_report["output"]) < 1024


def test_a_run_without_bulk_emits_nothing_new() -> None:
    state, effects = machine.apply(None, request({"steps": [CALL]}), now=10)
    assert state["bulk"] is None and effects.bulk_report is None
    state, effects = machine.apply(state, finished(1, 1, True, {"body": 1}), now=20)
    assert state["status"] == "completed" and effects.bulk_report is None
    _, again = machine.apply(state, finished(1, 1, True, {"body": 1}), now=21)
    assert again.bulk_report is None


def test_the_bulk_field_round_trips_and_old_records_still_decode() -> None:
    state, _ = machine.apply(None, bulk_request({"steps": [CALL]}), now=10)
    assert RUN_STATE.decode(RUN_STATE.encode(state))["bulk"] == {"job": "job_1", "row": 3}
    command = bulk_request({"steps": [CALL]})
    assert RUN_COMMAND.decode(RUN_COMMAND.encode(command))["bulk"]["row"] == 3
    for name, record in (("run_state", {k: v for k, v in state.items() if k != "bulk"}),
                         ("run_command", request({"steps": [CALL]}))):
        with open(f"schemas/{name}.avsc") as f:
            raw = json.load(f)
        names = [f["name"] for f in raw["fields"]]
        raw["fields"] = raw["fields"][:names.index("bulk")]  # the schema before this change
        buf = io.BytesIO()
        buf.write(b"\x01")
        fastavro.schemaless_writer(buf, fastavro.parse_schema(raw), record)
        decoded = codec(name).decode(buf.getvalue())
        assert decoded["bulk"] is None and decoded["run_id"] == "r1"


def test_fan_out_is_validated_at_save() -> None:
    assert file_trigger.issues({"type": "file_upload", "fan_out": "rows"}) == []
    assert file_trigger.fans_out({"type": "file_upload", "fan_out": "rows"})
    assert not file_trigger.fans_out({"type": "file_upload"})
    found = file_trigger.issues({"type": "file_upload", "fan_out": "columns"})
    assert [i.field for i in found] == ["trigger.fan_out"]
