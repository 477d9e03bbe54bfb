"""Benchmark one async bulk job end to end: POST the CSV, poll the status until it ends.

HTTP only, no processes (like bench/run.py): `hopflow bench bulk` starts the broker
and the workers, then calls `run_bulk`. The CSV holds valid values and every 10th
one invalid (they cost nothing and skip the lookup's slow path), so the figure is
the engine's, not the input's.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import aiohttp

POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 600.0


def sample_csv(rows: int, type_: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", type_])
    for i in range(rows):
        if i % 10 == 0:
            value = "not valid"
        elif type_ == "phone":
            value = f"+1 650 253 {i % 10000:04d}"
        elif type_ == "email":
            value = f"user{i}@example{i % 50}.com"
        elif type_ == "ip":
            value = f"8.{i % 256}.{(i // 256) % 256}.1"
        else:
            value = f"company{i}.example.com"
        writer.writerow([f"row {i}", value])
    return out.getvalue().encode()


async def run_bulk(base_url: str, rows: int, type_: str, *,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    data = sample_csv(rows, type_)
    async with aiohttp.ClientSession(headers=headers or {}) as session:
        form = aiohttp.FormData()
        form.add_field("type", type_)
        form.add_field("file", data, filename="bench.csv", content_type="text/csv")
        t0 = time.perf_counter()
        async with session.post(f"{base_url}/api/bulk-jobs", data=form) as response:
            body = await response.json()
            if response.status != 201:
                raise RuntimeError(f"POST /api/bulk-jobs answered {response.status}: {body}")
        accepted = time.perf_counter() - t0
        job_id = body["id"]
        while time.perf_counter() - t0 < TIMEOUT_SECONDS:
            async with session.get(f"{base_url}/api/bulk-jobs", params={"id": job_id}) as r:
                job = await r.json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            await asyncio.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - t0
    return {"type": type_, "rows": rows, "status": job["status"], "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds, 1), "accepted_seconds": round(accepted, 3),
            "processed": job["processed"], "failed": job["failed"],
            "credits_used": job["credits_used"]}
