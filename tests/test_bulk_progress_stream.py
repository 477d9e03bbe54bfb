"""The bulk job progress stream (GET /api/bulk-jobs/events), without a broker.

It used to write only when the counters moved and never looked at its client:
a job sitting queued sent nothing for minutes (proxies close such streams), and
a client that left kept its handler polling the store every 0.5 s for an hour.
"""

from __future__ import annotations

import dataclasses

import pytest

from api import bulk_jobs
from api.sse import KEEPALIVE
from history.bulk import BulkJobRow

JOB = BulkJobRow("job_1", "t", "phone", "queued", 10, 0, 0, 0, None, 1_795_000_000_000, None,
                 0, "f1")


class Response:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.ended = False

    async def write(self, data: bytes) -> None:
        self.frames.append(data)

    async def write_eof(self) -> None:
        self.ended = True


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_jobs, "PROGRESS_EVERY_SECONDS", 0.001)
    monkeypatch.setattr(bulk_jobs, "KEEPALIVE_SECONDS", 0.0)


async def test_a_client_that_left_stops_the_polling() -> None:
    fetched = 0

    async def fetch() -> BulkJobRow:
        nonlocal fetched
        fetched += 1
        return JOB

    response = Response()
    await bulk_jobs.follow(response, JOB, fetch, lambda: fetched >= 3)  # type: ignore[arg-type]
    assert fetched == 3 and not response.ended
    assert not any(f.startswith(b"event: done") for f in response.frames)


async def test_a_quiet_job_sends_keep_alives_then_progress_and_done() -> None:
    states = [JOB, JOB, JOB, dataclasses.replace(JOB, status="processing", processed=4),
              dataclasses.replace(JOB, status="completed", processed=10, completed_ms=1)]

    async def fetch() -> BulkJobRow:
        return states.pop(0)

    response = Response()
    await bulk_jobs.follow(response, states.pop(0), fetch, lambda: False)  # type: ignore[arg-type]
    kinds = [f.split(b"\n")[0] for f in response.frames]
    assert kinds[0] == b"event: progress" and KEEPALIVE in response.frames
    assert kinds[-1] == b"event: done" and response.ended
    assert kinds.count(b"event: progress") == 3  # queued, processing, completed
    assert b'"status":"completed"' in response.frames[-1]


async def test_a_job_gone_from_the_store_ends_the_stream() -> None:
    async def fetch() -> None:
        return None

    response = Response()
    await bulk_jobs.follow(response, JOB, fetch, lambda: False)  # type: ignore[arg-type]
    assert response.ended and response.frames[-1].startswith(b"event: done")
