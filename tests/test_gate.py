"""Per-key concurrency: the gate's slots and queue (pure), and the definition's block at save."""

from __future__ import annotations

from typing import Any

import pytest

from steps.concurrency import key_of
from steps.graph import InvalidDefinition, validate_workflow
from streams.gate import step

STEPS = [{"id": "a", "type": "transform", "config": {"fields": {"v": 1}}}]


def request(run_id: str, limit: int = 1) -> dict[str, Any]:
    return {"kind": "request", "gate": "t/wf/k", "run_id": run_id, "limit": limit,
            "command": run_id.encode()}


def release(run_id: str) -> dict[str, Any]:
    return {"kind": "release", "gate": "t/wf/k", "run_id": run_id, "limit": 1, "command": None}


def test_same_key_runs_one_at_a_time_in_order() -> None:
    state, out = step(None, request("r1"))
    assert out == [("r1", b"r1")]
    state, out = step(state, request("r2"))
    assert out == []
    state, out = step(state, request("r3"))
    assert out == [] and [w["run_id"] for w in state["waiting"]] == ["r2", "r3"]
    state, out = step(state, release("r1"))
    assert out == [("r2", b"r2")] and state["active"] == ["r2"]
    state, out = step(state, release("r2"))
    assert out == [("r3", b"r3")]
    state, out = step(state, release("r3"))
    assert state is None and out == []


def test_limit_two_keeps_two_running() -> None:
    state, out1 = step(None, request("r1", 2))
    state, out2 = step(state, request("r2", 2))
    state, out3 = step(state, request("r3", 2))
    assert [o[0] for o in out1 + out2] == ["r1", "r2"] and out3 == []
    state, out = step(state, release("r2"))
    assert out == [("r3", b"r3")] and state["active"] == ["r1", "r3"]


def test_redeliveries_are_harmless() -> None:
    state, _ = step(None, request("r1"))
    state, out = step(state, request("r1"))  # holding its slot: forwarded again (deduped later)
    assert out == [("r1", b"r1")] and state["active"] == ["r1"]
    state, _ = step(state, request("r2"))
    state, out = step(state, request("r2"))  # already waiting: not queued twice
    assert out == [] and len(state["waiting"]) == 1
    state, out = step(state, release("zz"))  # holds nothing
    assert out == [] and state["active"] == ["r1"]
    state, out = step(state, release("r1"))
    state, out = step(state, release("r1"))
    assert state is not None and state["active"] == ["r2"] and out == []


def test_the_key_renders_from_the_input() -> None:
    block = {"key": "{{input.customer_id}}", "limit": 2}
    assert key_of(block, {"customer_id": "acme"}) == ("acme", 2)
    assert key_of(block, {"customer_id": 7}) == ("7", 2)
    assert key_of(block, {}) == ("", 2)


@pytest.mark.parametrize(("block", "field"), [
    ({"limit": 1}, "concurrency.key"),
    ({"key": ""}, "concurrency.key"),
    ({"key": "{{input.[}}"}, "concurrency.key"),
    ({"key": "{{input.c}}", "limit": 0}, "concurrency.limit"),
    ({"key": "{{input.c}}", "limit": "1"}, "concurrency.limit"),
    ({"key": "{{input.c}}", "limit": True}, "concurrency.limit"),
    ({"key": "{{input.c}}", "max": 1}, "concurrency.max"),
    ("one", "concurrency"),
])
def test_a_bad_block_is_refused_at_save_naming_the_field(block: Any, field: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        validate_workflow({"name": "w", "steps": STEPS, "concurrency": block})
    assert field in [i.field for i in caught.value.issues]


def test_a_good_block_is_kept() -> None:
    block = {"key": "{{input.customer_id}}", "limit": 1}
    assert validate_workflow({"name": "w", "steps": STEPS, "concurrency": block}
                             )["concurrency"] == block
