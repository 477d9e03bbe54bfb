"""The control agent's ops, without Kafka: a dict stands in for the registry table."""

from __future__ import annotations

import pytest

from tests.control_table import Table

DEF = {"name": "W", "steps": [{"id": "a", "type": "transform", "config": {"fields": {}}}]}


@pytest.fixture
def table() -> Table:
    return Table()


def test_every_update_adds_an_immutable_version(table: Table) -> None:
    assert table.run("workflow.create", {"id": "w", "definition": DEF})["ok"]
    v1 = dict(table.body("version/t/w:1"))
    changed = {**DEF, "name": "W2"}
    out = table.run("workflow.update", {"id": "w", "definition": changed})
    assert out["result"] == {"id": "w", "version": 2}
    assert table.body("version/t/w:1") == v1  # untouched
    assert '"W2"' in table.body("version/t/w:2")["definition"]
    head = table.body("workflow/t/w")
    assert (head["latest"], head["published"], head["name"]) == (2, None, "W2")
    stale = table.run("workflow.update", {"id": "w", "definition": DEF, "base_version": 1})
    assert (stale["ok"], stale["status"]) == (False, 409)
    assert "version/t/w:3" not in table


def test_lifecycle_publish_archive_unarchive_delete(table: Table) -> None:
    table.run("workflow.create", {"id": "w", "definition": DEF})
    assert table.run("workflow.publish", {"id": "w", "version": 9})["status"] == 404
    assert table.run("workflow.publish", {"id": "w", "version": 1})["ok"]
    assert table.body("workflow/t/w")["status"] == "published"
    assert table.run("workflow.delete", {"id": "w"})["status"] == 409  # not archived
    table.run("workflow.archive", {"id": "w"})
    assert table.run("workflow.update", {"id": "w", "definition": DEF})["status"] == 409
    table.run("workflow.unarchive", {"id": "w"})
    assert table.body("workflow/t/w")["status"] == "draft"
    table.run("workflow.archive", {"id": "w"})
    assert table.run("workflow.delete", {"id": "w"})["ok"]
    assert not [k for k in table if k.startswith(("workflow/", "version/"))]
    assert [e.type for e in table.last_events] == ["workflow.deleted"]


def test_a_refused_command_writes_nothing(table: Table) -> None:
    for i in range(3):
        assert table.run("workflow.create", {"id": f"w{i}", "definition": DEF},
                         plan="free")["ok"]
    before = dict(table)
    out = table.run("workflow.create", {"id": "w3", "definition": DEF}, plan="free")
    assert out == {"command_id": out["command_id"], "ok": False, "status": 400,
                   "message": "plan free allows at most 3 workflows (archive or delete one "
                              "first)", "field": "plan.workflows"}
    assert table == before and table.last_events == []
    table.run("workflow.archive", {"id": "w0"}, plan="free")  # archived ones don't count
    assert table.run("workflow.create", {"id": "w3", "definition": DEF}, plan="free")["ok"]


def test_tenants_do_not_share_rows(table: Table) -> None:
    table.run("workflow.create", {"id": "w", "definition": DEF}, tenant="a")
    assert table.run("workflow.create", {"id": "w", "definition": DEF}, tenant="b")["ok"]
    assert table.run("workflow.archive", {"id": "w"}, tenant="c")["status"] == 404
    assert table.run("key.revoke", {"key_id": "k"}, tenant="b")["status"] == 404


def test_keys_and_plans(table: Table) -> None:
    assert table.run("key.create", {"key_id": "k", "hash": "h", "role": "root"})["status"] == 400
    assert table.run("key.create", {"key_id": "k", "hash": "h", "role": "admin"})["ok"]
    assert table.run("key.create", {"key_id": "k", "hash": "h", "role": "admin"})["status"] \
        == 409
    table.run("key.revoke", {"key_id": "k"})
    assert table.body("apikey/t/k")["revoked_ms"] is not None
    assert table.run("tenant.set_plan", {"plan": "gold"})["status"] == 400
    assert table.run("tenant.set_plan", {"plan": "free"})["ok"]
    six = {"name": "x", "steps": [{"id": f"s{i}", "type": "transform", "config": {}}
                                  for i in range(6)]}
    out = table.run("workflow.create", {"id": "big", "definition": six}, plan="paid")
    assert (out["ok"], out["field"]) == (False, "steps")  # the stored plan (free) wins


def test_unknown_op_is_refused(table: Table) -> None:
    assert table.run("workflow.explode", {})["status"] == 400
