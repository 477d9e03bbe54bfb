"""A lookup step end to end: a real worker on a real broker runs email_lookup and branches on it."""

from __future__ import annotations

import httpx

from dev.workers import WorkerProcess
from tests.helpers import create_workflow, run_and_wait

LEADS = {"name": "lead triage", "steps": [
    {"id": "lookup", "type": "email_lookup", "config": {"field": "input.email"}},
    {"id": "is_free", "type": "condition",
     "config": {"field": "steps.lookup.free_provider", "op": "equals", "value": True,
                "then": "personal", "else": "business"}},
    {"id": "personal", "type": "transform", "next": None,
     "config": {"fields": {"kind": "personal", "email": "{{steps.lookup.normalized}}"}}},
    {"id": "business", "type": "transform",
     "config": {"fields": {"kind": "business", "domain": "{{steps.lookup.domain}}",
                           "role": "{{steps.lookup.role_account}}"}}},
]}


async def test_email_lookup_then_condition_then_transform(shared_worker: WorkerProcess,
                                                          http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, LEADS)
    run = await run_and_wait(http, base, wf, {"email": "Jane.Doe@GMAIL.com"})
    assert run["status"] == "completed", run
    steps = run["stepExecutionHistory"]
    assert [s["stepId"] for s in steps] == ["lookup", "is_free", "personal"]
    assert steps[0]["output"] == {
        "input": "Jane.Doe@GMAIL.com", "valid": True, "normalized": "Jane.Doe@gmail.com",
        "local_part": "Jane.Doe", "domain": "gmail.com", "ascii_domain": "gmail.com",
        "free_provider": True, "disposable": False, "role_account": False, "reason": None,
        "credits": 1}
    assert run["result"] == {"kind": "personal", "email": "Jane.Doe@gmail.com"}

    business = await run_and_wait(http, base, wf, {"email": "admin@acme.io"})
    assert business["status"] == "completed", business
    assert business["result"] == {"kind": "business", "domain": "acme.io", "role": True}

    invalid = await run_and_wait(http, base, wf, {"email": "not an email"})
    assert invalid["status"] == "completed", invalid  # invalid input is an answer, not a failure
    lookup = invalid["stepExecutionHistory"][0]["output"]
    assert (lookup["valid"], lookup["credits"]) == (False, 0) and lookup["reason"]
    assert invalid["result"]["kind"] == "business"  # free_provider null is not true
