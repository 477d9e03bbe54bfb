"""The OpenAPI document against the router: every route described, nothing described twice.

The worker is built (views registered) without starting it, so no broker is needed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from api import openapi
from hopflow.worker import build
from streams.settings import Settings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def routes() -> set[tuple[str, str]]:
    engine = build(Settings(app_id="t-openapi", web_port=6066))
    found = set()
    for route in engine.app.web.web_app.router.routes():
        if route.method in METHODS:  # HEAD: Faust answers it for every path, as GET
            found.add((route.method, route.resource.canonical))  # type: ignore[union-attr]
    return found


def described() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in openapi.document()["paths"].items()
            for method in item}


def test_every_route_is_described_and_nothing_else(routes: set[tuple[str, str]]) -> None:
    assert routes - described() == set(), "routes missing from api/openapi.py ENDPOINTS"
    assert described() - routes == set(), "described operations no view serves"
    assert len(openapi.ENDPOINTS) == len(described()), "an endpoint is described twice"


def test_the_document_is_valid_openapi_31() -> None:
    doc = openapi.document()
    assert doc["openapi"] == "3.1.0"
    jsonschema_rs.validate(OPENAPI_31, doc)
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    refs = set(_refs(doc))
    assert refs <= {f"#/components/{kind}/{n}" for kind in ("schemas", "responses")
                    for n in doc["components"][kind]}
    for answer in doc["components"]["responses"].values():
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_security_errors_and_path_parameters() -> None:
    doc = openapi.document()
    public = {"/healthz", "/metrics", "/api/openapi.json", "/api/workflows/ingest/{token}",
              "/console", "/console/{path}"}
    assert set(doc["components"]["securitySchemes"]) == {"apiKey", "tenantId", "bearer"}
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
    for path, item in doc["paths"].items():
        names = {p.strip("{}") for p in path.split("/") if p.startswith("{")}
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if path in public:
                assert op["security"] == [], where
                continue
            assert op["security"] == openapi.SECURITY, where
            assert "401" in op["responses"], where
            for status, answer in op["responses"].items():
                if int(status) >= 400:  # every error: the one error body of api/errors.py
                    name = openapi.ERROR_RESPONSES[int(status)][0]
                    assert answer == {"$ref": f"#/components/responses/{name}"}, where
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, where
            if names:
                assert "404" in op["responses"], where
            if "requestBody" in op:
                assert {"400", "413"} <= set(op["responses"]), where
            if op.get("x-role") in ("admin", "owner"):
                assert "403" in op["responses"], where


def test_aliases_are_documented() -> None:
    paths = openapi.document()["paths"]
    assert {"get", "post"} <= set(paths["/api/v4/workflows"])
    assert "post" in paths["/api/workflows/{workflow_id}/execute"]
    body = paths["/api/workflows"]["post"]["requestBody"]["content"]["application/json"]
    props = openapi.SCHEMAS["WorkflowInput"]["properties"]
    assert body["schema"]["allOf"] == [{"$ref": "#/components/schemas/WorkflowInput"}]
    assert {"definition", "trigger_type", "trigger_config", "enabled"} <= set(props)
    v4 = openapi.SCHEMAS["WorkflowInput004"]["properties"]
    assert {"Name", "TriggerEventType", "MaxRetryCount", "RetryBackoffBaseSeconds"} <= set(v4)


def test_served_bytes_are_built_once() -> None:
    assert openapi.document_bytes() is openapi.document_bytes()
    before = copy.deepcopy(openapi.document())
    openapi.document_bytes()
    assert openapi.document() == before


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
