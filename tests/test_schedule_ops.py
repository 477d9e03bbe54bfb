"""Schedule control ops without Kafka: CRUD, validation, cursor, the definition's trigger."""

from __future__ import annotations

import pytest

from tests.control_table import Table

DEF = {"name": "W", "steps": [{"id": "a", "type": "transform", "config": {"fields": {}}}]}
CRON = {"workflow_id": "w", "cron_expression": "0 9 * * 1-5", "timezone": "America/New_York"}


@pytest.fixture
def table() -> Table:
    t = Table()
    assert t.run("workflow.create", {"id": "w", "definition": DEF})["ok"]
    return t


def test_create_update_delete(table: Table) -> None:
    assert table.run("schedule.put", {**CRON, "workflow_id": "nope", "create": True}
                     )["status"] == 404
    assert table.run("schedule.put", CRON)["status"] == 404  # update without a schedule
    assert table.run("schedule.put", {**CRON, "create": True})["ok"]
    row = table.body("schedule/t/w")
    assert (row["enabled"], row["catch_up"], row["source"]) == (True, "run_once", "api")
    assert table.run("schedule.put", {**CRON, "create": True})["status"] == 409
    out = table.run("schedule.put", {**CRON, "cron_expression": "0  10 * * 1-5",
                                     "enabled": False, "catch_up": "skip"})
    assert out["ok"]
    row = table.body("schedule/t/w")
    assert (row["cron_expression"], row["enabled"], row["catch_up"]) == (
        "0 10 * * 1-5", False, "skip")
    assert table.run("schedule.delete", {"workflow_id": "w"})["ok"]
    assert "schedule/t/w" not in table
    assert table.run("schedule.delete", {"workflow_id": "w"})["status"] == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"cron_expression": "61 * * * *"}, "cron_expression"),
    ({"cron_expression": "*/5 * * * * *"}, "cron_expression"),  # seconds: below 60 s
    ({"timezone": "Nowhere/City"}, "timezone"),
    ({"catch_up": "all"}, "catch_up"),
])
def test_invalid_is_400_naming_the_field(table: Table, change: dict, field: str) -> None:
    out = table.run("schedule.put", {**CRON, "create": True, **change})
    assert (out["ok"], out["status"], out["field"]) == (False, 400, field)
    assert "schedule/t/w" not in table


def test_fired_moves_the_cursor_forward_only(table: Table) -> None:
    table.run("schedule.put", {**CRON, "create": True})
    start = table.body("schedule/t/w")["cursor_s"]
    out = table.run("schedule.fired", {"workflow_id": "w", "cursor_s": start + 100,
                                       "slot_s": start + 100, "run_id": "r1"})
    assert out["result"]["moved"]
    assert table.run("schedule.fired", {"workflow_id": "w", "cursor_s": start + 50}
                     )["result"]["moved"] is False
    row = table.body("schedule/t/w")
    assert (row["cursor_s"], row["last_run_id"], row["last_fired_s"]) == (
        start + 100, "r1", start + 100)
    # an edit that keeps what fires keeps the cursor; a new cron restarts it at now
    table.run("schedule.put", {**CRON, "catch_up": "skip"})
    assert table.body("schedule/t/w")["cursor_s"] == start + 100
    table.run("schedule.put", {**CRON, "cron_expression": "0 8 * * *"})
    assert table.body("schedule/t/w")["cursor_s"] < start + 100
    # fired for a deleted schedule does nothing
    table.run("schedule.delete", {"workflow_id": "w"})
    assert table.run("schedule.fired", {"workflow_id": "w", "cursor_s": 10**9}
                     )["result"]["moved"] is False
    assert "schedule/t/w" not in table


def test_definition_trigger_is_the_schedule(table: Table) -> None:
    scheduled = {**DEF, "trigger": {"type": "schedule", "cron": "*/15 * * * *",
                                    "timezone": "Europe/Berlin"}}
    assert table.run("workflow.create", {"id": "d", "definition": scheduled})["ok"]
    row = table.body("schedule/t/d")
    assert (row["cron_expression"], row["timezone"], row["source"]) == (
        "*/15 * * * *", "Europe/Berlin", "definition")
    bad = {**DEF, "trigger": {"type": "schedule", "cron": "nope", "timezone": "UTC"}}
    out = table.run("workflow.update", {"id": "d", "definition": bad})
    assert (out["status"], out["field"]) == (400, "trigger.cron")
    # a definition without the trigger removes the definition's schedule...
    assert table.run("workflow.update", {"id": "d", "definition": DEF})["ok"]
    assert "schedule/t/d" not in table
    # ...but not one made through the API
    table.run("schedule.put", {**CRON, "create": True})
    table.run("workflow.update", {"id": "w", "definition": DEF})
    assert "schedule/t/w" in table


def test_deleting_the_workflow_deletes_its_schedule(table: Table) -> None:
    table.run("schedule.put", {**CRON, "create": True})
    table.run("workflow.archive", {"id": "w"})
    assert table.run("workflow.delete", {"id": "w"})["ok"]
    assert "schedule/t/w" not in table
