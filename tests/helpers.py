"""Small helpers for end-to-end tests: create workflows, start and poll runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "cancelled"}


async def create_workflow(http: httpx.AsyncClient, base: str, definition: dict[str, Any],
                          tenant: str = "default") -> str:
    response = await http.post(f"{base}/api/workflows", json=definition,
                               headers={"x-tenant-id": tenant})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def run_and_wait(http: httpx.AsyncClient, base: str, workflow_id: str,
                       payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    response = await http.post(f"{base}/api/workflows/{workflow_id}/run",
                               params={"wait": "true", "timeout": str(timeout)},
                               json={"input": payload})
    assert response.status_code == 200, response.text
    return response.json()


async def get_run(http: httpx.AsyncClient, base: str, run_id: str) -> httpx.Response:
    return await http.get(f"{base}/api/workflows/runs/{run_id}")


async def wait_status(http: httpx.AsyncClient, base: str, run_id: str, statuses: set[str],
                      timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        response = await get_run(http, base, run_id)
        if response.status_code == 200:
            last = response.json()
            if last["status"] in statuses:
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} not in {statuses} after {timeout}s: {last}")


def finished_twice(run: dict[str, Any]) -> list[tuple[int, int]]:
    """(seq, attempt) pairs that appear more than once in the step history."""
    seen: dict[tuple[int, int], int] = {}
    for step in run["stepExecutionHistory"]:
        key = (step["seq"], step["attempt"])
        seen[key] = seen.get(key, 0) + 1
    return [k for k, n in seen.items() if n > 1]
