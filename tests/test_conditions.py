"""Conditions: rules, all/any/not groups, regex with a timeout, numbers, dates, expressions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from steps import condition
from steps.graph import InvalidDefinition, compile_definition, validate_workflow

CTX: dict[str, Any] = {
    "input": {"age": "42", "score": 7.5, "name": "Ada Lovelace", "email": "ada@acme.com",
              "tags": ["vip", "eu"], "signup": "2024-03-10T12:00:00Z", "epoch": 1710072000,
              "epoch_ms": 1710072000000, "flag": False, "empty": "", "zero": 0,
              "payload": "x" * 40},
    "steps": {"lookup": {"free": False, "n": 3}}, "event": {}, "run": {"id": "r1"},
}


def holds(rule: dict[str, Any]) -> bool:
    assert condition.validate_rule(rule, "c") == [], condition.validate_rule(rule, "c")
    return condition.evaluate(rule, CTX)


def test_plain_rules_still_work() -> None:
    assert holds({"field": "steps.lookup.free", "op": "equals", "value": False})
    assert holds({"field": "input.tags", "op": "contains", "value": "vip"})
    assert not holds({"field": "input.missing", "op": "exists"})
    assert holds({"field": "input.name", "value": "Ada Lovelace"})  # equals by default


def test_numeric_compares_coerce_numeric_strings() -> None:
    assert holds({"field": "input.age", "op": "gt", "value": 40})
    assert holds({"field": "input.age", "op": "lte", "value": "42"})
    assert holds({"field": "input.age", "op": "gt", "value": "9"})  # 42 > 9, not "42" < "9"
    assert holds({"field": "input.age", "op": "equals", "value": 42})
    assert holds({"field": "input.score", "op": "lt", "value": "7.6"})
    assert not holds({"field": "input.name", "op": "gt", "value": 3})  # no order: false
    assert not holds({"field": "input.flag", "op": "equals", "value": 0})  # bools are no numbers


def test_groups_nest() -> None:
    rule = {"all": [
        {"field": "input.age", "op": "gte", "value": 18},
        {"any": [{"field": "input.tags", "op": "contains", "value": "gold"},
                 {"not": {"field": "steps.lookup.free", "op": "truthy"}}]}]}
    assert holds(rule)
    assert not holds({"any": [{"field": "input.age", "op": "lt", "value": 18},
                              {"field": "input.tags", "op": "contains", "value": "gold"}]})


def test_regex_and_its_timeout() -> None:
    assert holds({"field": "input.email", "op": "regex", "value": r"@acme\.com$"})
    assert holds({"field": "input.name", "op": "regex", "value": "^ada", "ignore_case": True})
    assert holds({"field": "input.name", "op": "not_regex", "value": "^Bob"})
    catastrophic = {"field": "input.payload", "op": "regex", "value": "(x+x+)+y"}
    big = {**CTX, "input": {**CTX["input"], "payload": "x" * 5000}}
    started = time.perf_counter()
    matched, notes = condition.evaluate_noted(catastrophic, big)
    assert time.perf_counter() - started < 1.0
    assert matched is False and "timed out" in notes[0]
    out = condition.execute({**catastrophic, "then": "a", "else": "b"}, big)
    assert out["matched"] is False and out["branch"] == "else" and out["notes"]
    inverse = {**catastrophic, "op": "not_regex"}
    assert condition.evaluate(inverse, big) is False  # a timeout is no evidence either way



def test_regexes_of_one_evaluation_share_a_budget() -> None:
    """100 catastrophic regexes at 50 ms each were 5 s of the run agent per evaluation."""
    catastrophic = {"field": "input.payload", "op": "regex", "value": "(x+x+)+y"}
    big = {**CTX, "input": {**CTX["input"], "payload": "x" * 5000}}
    rule = {"any": [catastrophic] * 100}
    started = time.perf_counter()
    matched, notes = condition.evaluate_noted(rule, big)
    assert time.perf_counter() - started < 1.0
    assert matched is False and len(notes) == 100 and "used their" in notes[-1]
    assert condition.evaluate(rule, big) is False


def test_dates() -> None:
    assert holds({"field": "input.signup", "op": "before", "value": "2024-03-11"})
    assert holds({"field": "input.signup", "op": "after", "value": "2024-03-10T11:59:59+00:00"})
    assert holds({"field": "input.epoch", "op": "on_or_after", "value": "2024-03-10T12:00:00Z"})
    assert holds({"field": "input.epoch_ms", "op": "on_or_before", "value": 1710072000})
    assert holds({"field": "input.signup", "op": "same_day", "value": "2024-03-10"})
    assert holds({"field": "input.signup", "op": "before", "value": "now"})
    matched, notes = condition.evaluate_noted(
        {"field": "input.name", "op": "before", "value": "now"}, CTX)
    assert matched is False and "not a date" in notes[0]


def test_expression_truthiness() -> None:
    assert holds({"expression": "length(input.tags) > `1` && steps.lookup.n == `3`"})
    assert not holds({"expression": "input.empty"})
    assert holds({"expression": "input.zero"})  # JMESPath: numbers are true
    assert not holds({"expression": "input.missing"})


@pytest.mark.parametrize(("rule", "field"), [
    ({"field": "input.x", "op": "regex", "value": "(unclosed"}, "c.value"),
    ({"field": "input.x", "op": "before", "value": "not a date"}, "c.value"),
    ({"field": "input.x", "op": "nope", "value": 1}, "c.op"),
    ({"all": []}, "c.all"),
    ({"any": [{"field": "input.x", "op": "gt"}]}, "c.any[0].value"),
    ({"all": [{"any": [{"expression": "a[["}]}]}, "c.all[0].any[0].expression"),
    ({"field": "a[", "op": "exists"}, "c.field"),
    ({"all": [{"field": "a"}], "expression": "a"}, "c"),
])
def test_validation_names_the_field(rule: dict[str, Any], field: str) -> None:
    assert [i.field for i in condition.validate_rule(rule, "c")] == [field]


def test_depth_capped() -> None:
    rule: dict[str, Any] = {"field": "input.x", "op": "exists"}
    for _ in range(condition.MAX_DEPTH):
        rule = {"not": rule}
    assert "deeper" in condition.validate_rule(rule, "c")[0].message


def test_bad_rule_is_a_400_field_at_save() -> None:
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow({"name": "w", "steps": [
            {"id": "a", "type": "transform", "config": {"fields": {}}},
            {"id": "c", "type": "condition", "config": {
                "any": [{"field": "input.x", "op": "regex", "value": "["}],
                "then": "a", "else": "a"}}]})
    assert [i.field for i in info.value.issues] == ["steps[1].config.any[0].value"]


def test_groups_branch_steps_and_edges() -> None:
    graph = compile_definition({"steps": [
        {"id": "c", "type": "condition", "config": {
            "all": [{"field": "input.age", "op": "gt", "value": 30},
                    {"field": "input.email", "op": "regex", "value": "acme"}],
            "then": "yes", "else": "no"}},
        {"id": "yes", "type": "transform", "config": {"fields": {}}, "next": None},
        {"id": "no", "type": "transform", "config": {"fields": {}}}]})
    output = condition.execute(graph.steps["c"].config, CTX)
    assert output == {"matched": True, "branch": "then"}
    assert graph.successor("c", output, CTX) == "yes"
    edges = compile_definition({"initialStep": "a", "steps": [
        {"id": "a", "type": "transform", "config": {"fields": {}}},
        {"id": "b", "type": "transform", "config": {"fields": {}}},
        {"id": "d", "type": "transform", "config": {"fields": {}}}],
        "edges": [{"from": "a", "to": "b", "condition": {"any": [
            {"field": "input.age", "op": "lt", "value": 18},
            {"expression": "contains(input.tags, 'vip')"}]}},
            {"from": "a", "to": "d"}]})
    assert edges.successor("a", {}, CTX) == "b"
