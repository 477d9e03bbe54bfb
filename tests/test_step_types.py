"""The step-type catalog: complete for every type, served by a worker, equal to README."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from api.step_types import action_types, document
from dev.workers import WorkerProcess
from steps import catalog, registry

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- step-types:begin -->\n(.*?)<!-- step-types:end -->", re.S)


def test_every_step_type_describes_its_config_and_output() -> None:
    types = catalog.step_types()
    assert {t["type"] for t in types} == {registry.get(n).name for n in registry.known()}
    for t in types:
        assert t["title"], t["type"]
        assert t["config"], f"{t['type']} has no CONFIG"
        assert t["output"], f"{t['type']} has no OUTPUT"
        assert all(f["type"] and f["description"] for f in t["config"]), t["type"]


def test_action_types_follow_reference_004() -> None:
    actions = action_types()
    assert [a["value"] for a in actions] == list(range(15))
    assert actions[3] == {"value": 3, "name": "CallApiPost", "stepType": "webhook",
                          "method": "POST", "available": True}
    for action in actions:
        assert action["available"] == (action["stepType"] in registry.known()), action
    webhook = next(t for t in document()["data"] if t["type"] == "webhook")
    assert [a["value"] for a in webhook["actionTypes"]] == [2, 3, 4, 5]


def test_readme_table_is_the_generated_one() -> None:
    """`hopflow step-types --markdown` writes the block; a new step type must update README."""
    match = _BLOCK.search(README.read_text())
    assert match, "README lacks the step-types block"
    assert match.group(1) == catalog.markdown(document()["data"]), (
        "README's step table is stale: paste `hopflow step-types --markdown` into it")


async def test_a_worker_serves_the_catalog(shared_worker: WorkerProcess,
                                           http: httpx.AsyncClient) -> None:
    response = await http.get(f"{shared_worker.url}/api/workflows/step-types")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["data"]) == len(catalog.step_types())
    lookup = next(t for t in body["data"] if t["type"] == "email_lookup")
    assert {"name": "field", "type": "string",
            "description": "or a path into the run context, e.g. input.email, steps.s1.company",
            "required": False} in lookup["config"]
    assert "free_provider" in [o["name"] for o in lookup["output"]]
    anonymous = await http.get(f"{shared_worker.url}/api/workflows/step-types",
                               headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
