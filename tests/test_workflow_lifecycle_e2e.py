"""Versions, lifecycle, steps as sub-resources, audit, templates and listing, on a real worker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, run_and_wait

BASE = {"name": "Lifecycle", "description": "versions and status",
        "steps": [{"id": "shape", "type": "transform",
                   "config": {"fields": {"version": 1, "v": "{{input.v}}"}}}]}


def with_version(n: int, name: str = "Lifecycle") -> dict[str, Any]:
    return {**BASE, "name": name, "steps": [
        {"id": "shape", "type": "transform", "config": {"fields": {"version": n}}}]}


async def test_versions_publish_and_the_version_a_run_starts_on(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, with_version(1))
    for n in (2, 3):
        updated = await http.put(f"{base}/api/workflows/{wf}", json=with_version(n))
        assert updated.status_code == 200 and updated.json()["version"] == n
    versions = (await http.get(f"{base}/api/workflows/{wf}/versions")).json()
    assert [v["version"] for v in versions["data"]] == [3, 2, 1]
    assert versions["latest"] == 3 and versions["published"] is None
    v1 = (await http.get(f"{base}/api/workflows/{wf}?version=1")).json()
    assert v1["steps"][0]["config"]["fields"]["version"] == 1 and v1["latestVersion"] == 3
    assert (await http.get(f"{base}/api/workflows/{wf}?version=published")).status_code == 404
    assert (await http.get(f"{base}/api/workflows/{wf}?version=9")).status_code == 404
    assert (await http.get(f"{base}/api/workflows/{wf}?version=x")).status_code == 400

    # no published version: runs start the latest
    run = await run_and_wait(http, base, wf, {"v": 1})
    assert run["workflowVersion"] == 3
    published = await http.post(f"{base}/api/workflows/{wf}/publish", json={"version": 2})
    assert published.status_code == 200, published.text
    assert (published.json()["status"], published.json()["publishedVersion"]) == (
        "published", 2)
    await http.put(f"{base}/api/workflows/{wf}", json=with_version(4))
    run = await run_and_wait(http, base, wf, {"v": 1})
    assert run["workflowVersion"] == 2  # the published one, not the newer latest
    # 003 publishes "1.0.0"-style versions
    assert (await http.post(f"{base}/api/workflows/{wf}/publish", json={"version": "4.0.0"})
            ).json()["publishedVersion"] == 4
    assert (await http.post(f"{base}/api/workflows/{wf}/publish", json={"version": 99})
            ).status_code == 404
    # the run keeps the version it started on, in history too
    stored = (await http.get(f"{base}/api/workflows/runs/{run['runId']}")).json()
    assert stored["workflowVersion"] == 2


async def test_disabled_and_archived_workflows_do_not_start_runs(
        shared_worker: WorkerProcess, http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, BASE)
    off = await http.put(f"{base}/api/workflows/{wf}", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["version"] == 1  # a toggle is not a new version
    refused = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    assert refused.status_code == 409 and "disabled" in refused.json()["error"]["message"]
    await http.put(f"{base}/api/workflows/{wf}", json={"enabled": True})
    assert (await run_and_wait(http, base, wf, {"v": 1}))["status"] == "completed"

    archived = await http.delete(f"{base}/api/workflows/{wf}")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    refused = await http.post(f"{base}/api/workflows/{wf}/run", json={"input": {}})
    assert refused.status_code == 409 and "archived" in refused.json()["error"]["message"]
    assert (await http.put(f"{base}/api/workflows/{wf}", json=BASE)).status_code == 409
    listed = (await http.get(f"{base}/api/workflows")).json()["data"]
    assert wf not in [w["id"] for w in listed]
    listed = (await http.get(f"{base}/api/workflows?includeArchived=true")).json()["data"]
    assert wf in [w["id"] for w in listed]
    back = await http.post(f"{base}/api/workflows/{wf}/unarchive")
    assert back.status_code == 200 and back.json()["status"] == "draft"
    assert (await http.post(f"{base}/api/workflows/{wf}/unarchive")).status_code == 409
    assert (await http.delete(f"{base}/api/workflows/{wf}/permanent")).status_code == 409
    await http.delete(f"{base}/api/workflows/{wf}")
    gone = await http.delete(f"{base}/api/workflows/{wf}/permanent")
    assert gone.status_code == 200
    assert (await http.get(f"{base}/api/workflows/{wf}")).status_code == 404
    assert (await http.get(f"{base}/api/workflows/{wf}/versions")).status_code == 404


async def test_clone_steps_and_audit(shared_worker: WorkerProcess,
                                     http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    headers = {"x-tenant-id": "audited"}
    created = await http.post(f"{base}/api/workflows", json=BASE, headers=headers)
    wf = created.json()["id"]
    clone = await http.post(f"{base}/api/workflows/{wf}/clone", headers=headers)
    assert clone.status_code == 201
    assert (clone.json()["name"], clone.json()["status"]) == ("Lifecycle (Copy)", "draft")
    assert clone.json()["id"] != wf

    added = await http.post(f"{base}/api/workflows/{wf}/steps", headers=headers, json={
        "id": "first", "type": "transform", "config": {"fields": {"a": 1}}, "order": 1})
    assert added.status_code == 201, added.text
    assert (added.json()["version"], added.json()["step"]["order"]) == (2, 1)
    steps = (await http.get(f"{base}/api/workflows/{wf}/steps", headers=headers)).json()
    assert [s["id"] for s in steps["data"]] == ["first", "shape"]
    moved = await http.put(f"{base}/api/workflows/{wf}/steps/first", headers=headers, json={
        "type": "transform", "config": {"fields": {"a": 2}}, "order": 2})
    assert moved.status_code == 200 and moved.json()["version"] == 3
    steps = (await http.get(f"{base}/api/workflows/{wf}/steps", headers=headers)).json()
    assert [s["id"] for s in steps["data"]] == ["shape", "first"]
    bad = await http.post(f"{base}/api/workflows/{wf}/steps", headers=headers,
                          json={"type": "no_such_type", "config": {}})
    assert bad.status_code == 400 and bad.json()["error"]["field"].startswith("steps")
    assert (await http.delete(f"{base}/api/workflows/{wf}/steps/nope", headers=headers)
            ).status_code == 404
    deleted = await http.delete(f"{base}/api/workflows/{wf}/steps/first", headers=headers)
    assert deleted.status_code == 200 and deleted.json()["version"] == 4

    await http.post(f"{base}/api/workflows/{wf}/publish", headers=headers, json={"version": 4})
    await http.post(f"{base}/api/workflows/{wf}/run?wait=true", headers=headers,
                    json={"input": {"v": 1}})
    await http.delete(f"{base}/api/workflows/{wf}", headers=headers)
    await http.post(f"{base}/api/workflows/{wf}/unarchive", headers=headers)
    wanted = ["unarchived", "archived", "ran", "published", "updated", "updated", "updated",
              "created"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        audit = (await http.get(f"{base}/api/workflows/{wf}/audit", headers=headers)).json()
        if [r["action"] for r in audit["data"]] == wanted:
            break
        await asyncio.sleep(0.2)
    assert [r["action"] for r in audit["data"]] == wanted
    assert all(r["actor"].startswith("key:") and r["at"] for r in audit["data"])
    assert audit["data"][4]["detail"]["step"] == {"id": "first", "action": "deleted"}
    page = (await http.get(f"{base}/api/workflows/{wf}/audit?limit=3&page=2",
                           headers=headers)).json()
    assert [r["action"] for r in page["data"]] == wanted[3:6] and page["hasMore"]
    cloned = (await http.get(f"{base}/api/workflows/{clone.json()['id']}/audit",
                             headers=headers)).json()
    assert [r["action"] for r in cloned["data"]] == ["cloned"]
    assert cloned["data"][0]["detail"]["source"] == wf


async def test_templates_and_listing(shared_worker: WorkerProcess,
                                     http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    headers = {"x-tenant-id": "templated"}
    catalog = (await http.get(f"{base}/api/workflows/templates", headers=headers)).json()
    categories = {t["category"] for t in catalog["data"]}
    assert {"lead_enrichment", "invoice", "contract", "resume", "alerting",
            "general"} <= categories
    invoices = (await http.get(f"{base}/api/workflows/templates?category=invoice",
                               headers=headers)).json()["data"]
    assert invoices and all(t["category"] == "invoice" for t in invoices)
    assert (await http.get(f"{base}/api/workflows/templates?category=nope",
                           headers=headers)).status_code == 400
    made = await http.post(f"{base}/api/workflows", headers=headers, json={
        "template_id": invoices[0]["id"], "name": "Our invoices"})
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Our invoices" and len(made.json()["steps"]) == \
        invoices[0]["stepCount"]
    also = await http.post(f"{base}/api/workflows/templates", headers=headers, json={
        "template_id": catalog["data"][0]["id"], "name": "From 002", "description": "d"})
    assert also.status_code == 201 and also.json()["description"] == "d"
    assert (await http.post(f"{base}/api/workflows", headers=headers,
                            json={"template_id": "tpl_nope"})).json()["error"]["field"] \
        == "template_id"

    for i in range(5):
        await http.post(f"{base}/api/workflows", headers=headers,
                        json={**BASE, "name": f"Billing {i}", "description": "money"})
    found = (await http.get(f"{base}/api/workflows?search=billing&limit=2",
                            headers=headers)).json()
    assert found["total"] == 5 and len(found["data"]) == 2 and found["hasMore"]
    second = (await http.get(f"{base}/api/workflows?search=billing&limit=2&offset=2",
                             headers=headers)).json()
    assert [w["name"] for w in second["data"]] == ["Billing 2", "Billing 3"]
    by_description = (await http.get(f"{base}/api/workflows?search=MONEY",
                                     headers=headers)).json()
    assert by_description["total"] == 5
    drafts = (await http.get(f"{base}/api/workflows?status=draft", headers=headers)).json()
    assert drafts["total"] == 7
    assert (await http.get(f"{base}/api/workflows?status=bogus", headers=headers)
            ).status_code == 400
