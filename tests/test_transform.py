"""Transform: fields as before, then map, rename, pick, omit, default, cast, template ops."""

from __future__ import annotations

from typing import Any

import pytest

from steps import transform
from steps.base import StepFailed
from steps.graph import InvalidDefinition, validate_workflow
from steps.text_template import TemplateError

CTX: dict[str, Any] = {
    "input": {"first": "Ada", "n": "42", "price": "9.50", "vip": "yes", "meta": '{"a": 1}',
              "when": 1710072000, "note": None,
              "items": [{"sku": "A1", "qty": 2, "price": 3}, {"sku": "B2", "qty": 1, "price": 10}]},
    "steps": {}, "event": {}, "run": {"id": "r1"}, "secrets": {},
}


def run(config: dict[str, Any]) -> Any:
    assert transform.validate(config, "c") == [], transform.validate(config, "c")
    return transform.execute(config, CTX)


def test_fields_alone_work_as_before() -> None:
    assert run({"fields": {"name": "{{input.first}}", "n": "{{input.n}}", "k": 1}}) == \
        {"name": "Ada", "n": "42", "k": 1}


def test_ops_in_order() -> None:
    out = run({"source": "input", "fields": {"run": "{{run.id}}"}, "ops": [
        {"op": "map", "field": "items", "expression": "{sku: sku, total: qty}"},
        {"op": "rename", "from": "first", "to": "name"},
        {"op": "default", "values": {"note": "none", "country": "GB", "name": "X"}},
        {"op": "cast", "field": "n", "to": "int"},
        {"op": "cast", "field": "price", "to": "float"},
        {"op": "cast", "field": "vip", "to": "bool"},
        {"op": "cast", "field": "meta", "to": "json"},
        {"op": "cast", "field": "when", "to": "date"},
        {"op": "template", "field": "summary",
         "template": "{% for i in value.items %}{{ i.sku }}:{{ i.total }}"
                     "{% if not loop.last %},{% endif %}{% endfor %} for {{ value.name }}"},
        {"op": "omit", "fields": ["items"]},
        {"op": "pick", "fields": ["name", "n", "price", "vip", "meta", "when", "note",
                                  "country", "summary", "run", "absent"]},
    ]})
    assert out == {"name": "Ada", "n": 42, "price": 9.5, "vip": True, "meta": {"a": 1},
                   "when": "2024-03-10T12:00:00+00:00", "note": "none", "country": "GB",
                   "summary": "A1:2,B2:1 for Ada", "run": "r1"}


def test_map_over_a_list_source() -> None:
    assert run({"source": "input.items", "ops": [{"op": "map", "expression": "sku"}]}) == \
        ["A1", "B2"]


@pytest.mark.parametrize(("field", "to", "message"), [
    ("first", "int", r"cannot cast first \('Ada'\) to int: not an integer"),
    ("first", "float", "to float: not a number"),
    ("first", "bool", "not a boolean"),
    ("first", "json", "not JSON"),
    ("first", "date", "to date"),
])
def test_cast_errors_are_clear(field: str, to: str, message: str) -> None:
    with pytest.raises(StepFailed, match=message):
        run({"source": "input", "ops": [{"op": "cast", "field": field, "to": to}]})


def test_object_ops_on_a_list_fail_clearly() -> None:
    with pytest.raises(StepFailed, match="pick needs an object, got list"):
        run({"source": "input.items", "ops": [{"op": "pick", "fields": ["a"]}]})


def test_template_op_limits_apply() -> None:
    with pytest.raises(TemplateError, match="500 iterations"):
        run({"ops": [{"op": "template", "field": "x",
                      "template": "{% for i in range(600) %}{% endfor %}"}]})


@pytest.mark.parametrize(("ops", "field"), [
    ([{"op": "rename", "from": "a"}], "c.ops[0].to"),
    ([{"op": "pick", "fields": []}], "c.ops[0].fields"),
    ([{"op": "omit", "fields": "a"}], "c.ops[0].fields"),
    ([{"op": "default", "values": []}], "c.ops[0].values"),
    ([{"op": "cast", "field": "a", "to": "decimal"}], "c.ops[0].to"),
    ([{"op": "map", "expression": "a[["}], "c.ops[0].expression"),
    ([{"op": "template", "field": "a", "template": "{% if %}"}], "c.ops[0].template"),
    ([{"op": "pick", "fields": ["a"]}, {"op": "explode"}], "c.ops[1].op"),
])
def test_validation_names_the_op_field(ops: list[Any], field: str) -> None:
    assert [i.field for i in transform.validate({"ops": ops}, "c")] == [field]


def test_bad_op_is_a_400_field_at_save() -> None:
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow({"name": "w", "steps": [
            {"id": "a", "type": "transform", "config": {"fields": {}}},
            {"id": "b", "type": "transform", "config": {"source": "input", "ops": [
                {"op": "pick", "fields": ["x"]}, {"op": "pick", "fields": ["y"]},
                {"op": "rename", "from": "a", "to": 3}]}}]})
    assert [i.field for i in info.value.issues] == ["steps[1].config.ops[2].to"]
