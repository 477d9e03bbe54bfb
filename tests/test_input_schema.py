"""Declared workflow input: the schema subset, input validation errors, reference 003 shapes."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.input_schema import (
    InputInvalid,
    canonical,
    check_definition,
    check_schema,
    compiled,
    metadata,
    normalize,
    validate_input,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email", "description": "Contact email"},
        "name": {"type": "string", "minLength": 1, "maxLength": 80},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "plan": {"type": "string", "enum": ["free", "pro"]},
        "signed_up": {"type": "string", "format": "date-time"},
        "birthday": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "address": {"type": "object",
                    "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                                   "city": {"type": "string"}},
                    "required": ["zip"]},
        "note": {"type": ["string", "null"]},
    },
    "required": ["email", "name"],
    "additionalProperties": False,
}
VALID = {"email": "jane@acme.com", "name": "Jane", "age": 41, "plan": "pro",
         "signed_up": "2024-01-31T09:00:00Z", "birthday": "1983-02-28",
         "id": "123e4567-e89b-12d3-a456-426614174000", "tags": ["vip"],
         "address": {"zip": "10115", "city": "Berlin"}, "note": None}


def error(data: Any, schema: dict[str, Any] | None = None) -> tuple[str, str]:
    with pytest.raises(InputInvalid) as info:
        validate_input(schema or SCHEMA, data)
    return info.value.field, info.value.message


def test_supported_schema_has_no_issues() -> None:
    assert check_schema(SCHEMA) == []


def test_valid_input_passes() -> None:
    validate_input(SCHEMA, VALID)
    validate_input(SCHEMA, {"email": "a@b.co", "name": "A"})


def test_wrong_type_names_the_field() -> None:
    assert error({**VALID, "age": "41"}) == ("input.age", "must be integer")
    assert error({**VALID, "age": True})[0] == "input.age"
    assert error([VALID]) == ("input", "must be object")


def test_missing_required_names_the_property() -> None:
    data = {k: v for k, v in VALID.items() if k != "email"}
    assert error(data) == ("input.email", "is required")
    assert error({"email": "a@b.co"}) == ("input.name", "is required")


def test_enum_and_bounds() -> None:
    field, message = error({**VALID, "plan": "gold"})
    assert field == "input.plan" and "free" in message and "pro" in message
    assert error({**VALID, "age": 200})[0] == "input.age"
    assert error({**VALID, "name": ""})[0] == "input.name"


@pytest.mark.parametrize(("name", "bad", "good"), [
    ("email", "not-an-email", "x@y.io"),
    ("signed_up", "2024-01-31", "2024-01-31T09:00:00+01:00"),
    ("signed_up", "yesterday", "2024-02-29T23:59:59.5Z"),
    ("birthday", "2023-02-29", "2024-02-29"),
    ("id", "1234", "00000000-0000-0000-0000-000000000000"),
])
def test_formats(name: str, bad: str, good: str) -> None:
    field, message = error({**VALID, name: bad})
    assert field == f"input.{name}"
    assert message.startswith("must be a")
    validate_input(SCHEMA, {**VALID, name: good})


def test_nested_and_array_paths() -> None:
    assert error({**VALID, "address": {"zip": "1"}})[0] == "input.address.zip"
    assert error({**VALID, "address": {"city": "X"}}) == ("input.address.zip", "is required")
    assert error({**VALID, "tags": ["ok", "NO"]})[0] == "input.tags[1]"


def test_additional_properties_false_names_the_extra_field() -> None:
    assert error({**VALID, "admin": True}) == ("input.admin", "is not an expected field")
    open_schema = {**SCHEMA, "additionalProperties": True}
    validate_input(open_schema, {**VALID, "admin": True})


def test_compiled_once_per_schema_text() -> None:
    reordered = dict(reversed(list(SCHEMA.items())))
    assert canonical(reordered) == canonical(SCHEMA)
    assert compiled(canonical(reordered)) is compiled(canonical(SCHEMA))
    before = compiled.cache_info().misses
    validate_input(reordered, VALID)
    assert compiled.cache_info().misses == before


@pytest.mark.parametrize(("schema", "path"), [
    ({"type": "object", "properties": {"email": {"type": "string", "minLenght": 3}}},
     "inputSchema.properties.email.minLenght"),
    ({"type": "object", "properties": {"email": {"type": "str"}}},
     "inputSchema.properties.email.type"),
    ({"type": "object", "properties": {"email": {"description": "no type"}}},
     "inputSchema.properties.email.type"),
    ({"type": "object", "properties": {"a": {"$ref": "#/definitions/a", "type": "string"}}},
     "inputSchema.properties.a.$ref"),
    ({"type": "object", "oneOf": [{"type": "object"}]}, "inputSchema.oneOf"),
    ({"type": "object", "properties": {"d": {"type": "string", "format": "hostname"}}},
     "inputSchema.properties.d.format"),
    ({"type": "object", "properties": {"n": {"type": "number", "pattern": "^1"}}},
     "inputSchema.properties.n.pattern"),
    ({"type": "object", "properties": {"p": {"type": "string", "pattern": "(["}}},
     "inputSchema.properties.p.pattern"),
    ({"type": "object", "properties": {"p": {"type": "string", "enum": ["a", 1]}}},
     "inputSchema.properties.p.enum"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "array", "items": {"type": "strin"}}}}}},
     "inputSchema.properties.a.properties.b.items.type"),
    ({"type": "object", "properties": {"a.b": {"type": "string"}}}, "inputSchema.properties.a.b"),
    ({"type": "object", "properties": {}, "required": ["ghost"]}, "inputSchema.required"),
    ({"type": "array", "items": {"type": "string"}}, "inputSchema.type"),
    ({"type": "object", "additionalProperties": "no"}, "inputSchema.additionalProperties"),
])
def test_check_schema_rejects_outside_the_subset(schema: dict[str, Any], path: str) -> None:
    issues = check_schema(schema)
    assert path in [field for field, _ in issues], issues


def test_check_schema_names_the_field_it_was_given() -> None:
    assert check_schema("nope", "definition.inputSchema") == [
        ("definition.inputSchema", "must be a schema object")]


def test_payload_shape_converts_to_schema() -> None:
    definition = {"payload": {
        "customerName": {"type": "string", "description": "Customer name"},
        "email": {"type": "string", "description": "Contact email", "format": "email",
                  "required": True},
    }}
    assert check_definition(definition) == []
    schema = normalize(definition)
    assert schema == {
        "type": "object",
        "properties": {"customerName": {"type": "string", "description": "Customer name"},
                       "email": {"type": "string", "description": "Contact email",
                                 "format": "email"}},
        "required": ["email"],
    }
    validate_input(schema, {"email": "a@b.co", "extra": 1})
    assert error({"customerName": "Jo"}, schema) == ("input.email", "is required")


def test_payload_without_required_flags_requires_nothing() -> None:
    schema = normalize({"payload": {"customerName": {"type": "string", "description": "x"}}})
    assert schema is not None and "required" not in schema
    validate_input(schema, {})


def test_payload_issues_name_payload_paths() -> None:
    issues = check_schema({"a": {"type": "nope"}, "b": {"type": "string", "required": "yes"},
                           "c": "string"}, "payload")
    assert {field for field, _ in issues} == {"payload.a.type", "payload.b.required", "payload.c"}


def test_normalize_picks_the_declared_shape() -> None:
    assert normalize({"name": "x"}) is None
    assert normalize({"payload": {}}) is None
    declared = {"$schema": "http://json-schema.org/draft-07/schema#", **SCHEMA}
    assert check_schema(declared) == []
    assert normalize({"inputSchema": declared}) == SCHEMA
    both = {"inputSchema": SCHEMA, "payload": {"a": {"type": "string"}}}
    assert check_definition(both) != []


def test_metadata_has_reference_shape() -> None:
    body = metadata("customer-onboarding", SCHEMA)
    assert body["success"] is True
    data = body["data"]
    assert data["workflowId"] == "customer-onboarding"
    assert data["payload"]["email"] == {"type": "string", "description": "Contact email",
                                        "required": True, "format": "email"}
    assert data["payload"]["plan"] == {"type": "string", "description": "",
                                       "enum": ["free", "pro"]}
    assert data["payload"]["age"] == {"type": "integer", "description": ""}
    assert set(data["payload"]) == set(SCHEMA["properties"])
    assert data["schema"] == SCHEMA


def test_metadata_without_schema() -> None:
    assert metadata("wf_1", None) == {"success": True, "data": {
        "workflowId": "wf_1", "payload": {}, "schema": None}}
