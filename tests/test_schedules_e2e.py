"""Schedules end to end: CRUD on a real worker, exactly one run per slot with two workers,
and the cursor surviving a restart (run_once catch-up, no repeat of a fired slot).

Seconds-resolution crons are allowed only through the worker setting
HOPFLOW_SCHEDULE_MIN_INTERVAL_SECONDS=1, so the firing tests take seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise

import httpx

from bench.sink import Sink
from dev.workers import WorkerProcess
from tests.helpers import create_workflow

FAST = {"HOPFLOW_SCHEDULE_MIN_INTERVAL_SECONDS": "1"}
TRANSFORM = {"id": "t", "type": "transform", "config": {"fields": {"ok": True}}}


def notifying(sink: Sink) -> dict:
    """A workflow that tells the sink which slot and run it is."""
    return {"name": "ticks", "steps": [{"id": "tell", "type": "webhook", "config": {
        "url": sink.url("/sink"), "method": "POST",
        "body": {"slot": "{{input.scheduledAt}}", "run": "{{run.id}}"}}}]}


def slots_seen(sink: Sink) -> list[tuple[str, str]]:
    return [(r.body["slot"], r.body["run"]) for r in list(sink.received) if r.path == "/sink"]


async def assert_one_run_per_slot(http: httpx.AsyncClient, base: str, workflow_id: str,
                                  seen: list[tuple[str, str]]) -> None:
    """Each slot is one run id, and history holds no run the sink did not hear of.

    A kill -9 or a rebalance may make a step run twice (at-least-once hops: the same
    run, the same Idempotency-Key for the peer), so deliveries are not counted here.
    """
    runs_per_slot = Counter(slot for slot, _ in set(seen))
    assert all(n == 1 for n in runs_per_slot.values()), seen
    deadline = time.monotonic() + 30
    while True:
        listed = await http.get(f"{base}/api/workflows/{workflow_id}/runs",
                                params={"limit": "100"})
        if (listed.status_code == 200 and listed.json()["total"] >= len(runs_per_slot)) or \
                time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert listed.status_code == 200, listed.text
    assert {r["runId"] for r in listed.json()["data"]} == {run for _, run in seen}
    assert {r["trigger"] for r in listed.json()["data"]} == {"schedule"}


async def test_schedule_crud_and_validation(shared_worker: WorkerProcess,
                                            http: httpx.AsyncClient) -> None:
    base = shared_worker.url
    wf = await create_workflow(http, base, {"name": "cron", "steps": [TRANSFORM]})
    url = f"{base}/api/workflows/{wf}/schedule"
    assert (await http.get(url)).status_code == 404
    for body, field in [
        ({"cron_expression": "61 * * * *", "timezone": "UTC"}, "cron_expression"),
        ({"cron_expression": "0 9 * *", "timezone": "UTC"}, "cron_expression"),
        ({"timezone": "UTC"}, "cron_expression"),
        ({"cron_expression": "*/5 * * * * *", "timezone": "UTC"}, "cron_expression"),
        ({"cron_expression": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"cron_expression": "0 9 * * *", "catch_up": "all"}, "catch_up"),
        ({"cron_expression": "0 9 * * *", "enabled": "yes"}, "enabled"),
    ]:
        response = await http.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["field"] == field, response.text
    created = await http.post(url, json={"cron_expression": "0 9 * * 1-5",
                                         "timezone": "America/New_York"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["cron_expression"], body["timezone"], body["enabled"], body["catch_up"]) == (
        "0 9 * * 1-5", "America/New_York", True, "run_once")
    next_run = datetime.fromisoformat(body["next_run_at"])
    assert next_run.utcoffset() is not None and body["next_run_at"][-6:] in ("-04:00", "-05:00")
    assert (next_run.hour, next_run.minute) == (9, 0) and next_run.isoweekday() <= 5
    assert (await http.post(url, json={"cron_expression": "0 9 * * *"})).status_code == 409
    assert (await http.get(url)).json()["next_run_at"] == body["next_run_at"]
    changed = await http.put(url, json={"cron_expression": "0 10 * * 1-5", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "America/New_York"  # kept
    assert (changed.json()["enabled"], changed.json()["next_run_at"]) == (False, None)
    bad = await http.put(url, json={"timezone": "Nowhere"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "timezone")
    other = await http.get(url, headers={"x-tenant-id": "intruder"})
    assert other.status_code == 404
    assert (await http.delete(url)).status_code == 200
    assert (await http.get(url)).status_code == 404
    assert (await http.delete(url)).status_code == 404
    missing = await http.post(f"{base}/api/workflows/nope/schedule",
                              json={"cron_expression": "0 9 * * *"})
    assert missing.status_code == 404
    # the definition's trigger is the same schedule
    scheduled = await create_workflow(http, base, {
        "name": "def", "steps": [TRANSFORM],
        "trigger": {"type": "schedule", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}})
    row = (await http.get(f"{base}/api/workflows/{scheduled}/schedule")).json()
    assert (row["cron_expression"], row["source"]) == ("30 2 * * *", "definition")
    assert row["next_run_at"].endswith(("+01:00", "+02:00"))
    bad_def = await http.post(f"{base}/api/workflows", json={
        "name": "bad", "steps": [TRANSFORM],
        "trigger": {"type": "schedule", "cron": "nope", "timezone": "UTC"}})
    assert bad_def.status_code == 400 and "trigger.cron" in bad_def.text, bad_def.text


async def test_each_slot_starts_exactly_one_run_with_two_workers(
        spawn_worker: Callable[..., WorkerProcess], sink: Sink,
        http: httpx.AsyncClient) -> None:
    first = spawn_worker(env=FAST)
    second = spawn_worker(env=FAST)
    wf = await create_workflow(http, first.url, notifying(sink))
    url = f"{first.url}/api/workflows/{wf}/schedule"
    created = await http.post(url, json={"cron_expression": "*/2 * * * * *", "timezone": "UTC"})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 60
    while len({slot for slot, _ in slots_seen(sink)}) < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    off = await http.put(f"{second.url}/api/workflows/{wf}/schedule", json={"enabled": False})
    assert off.status_code == 200, off.text
    await asyncio.sleep(3)  # runs already requested finish
    seen = slots_seen(sink)
    slots = Counter(slot for slot, _ in seen)
    assert len(slots) >= 6, seen
    await assert_one_run_per_slot(http, first.url, wf, seen)
    times = sorted(datetime.fromisoformat(s) for s in slots)
    assert all(t.second % 2 == 0 for t in times)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert all(g == 2 for g in gaps[1:]), gaps  # after the first, every slot fired
    row = (await http.get(url)).json()
    assert row["last_run_id"] in {run for _, run in seen}


async def test_schedule_state_survives_a_restart_with_run_once_catch_up(
        spawn_worker: Callable[..., WorkerProcess], sink: Sink,
        http: httpx.AsyncClient) -> None:
    worker = spawn_worker(env=FAST)
    wf = await create_workflow(http, worker.url, notifying(sink))
    url = f"{worker.url}/api/workflows/{wf}/schedule"
    created = await http.post(url, json={"cron_expression": "*/30 * * * * *",
                                         "timezone": "UTC"})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 70
    while not slots_seen(sink) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert slots_seen(sink), "no slot fired"
    fired_before = slots_seen(sink)[0][0]
    # give the cursor a moment to be recorded, then stop across the next slot
    await asyncio.sleep(1.5)
    worker.stop()
    missed = datetime.fromisoformat(fired_before).timestamp() + 30
    await asyncio.sleep(max(0.0, missed + 1.5 - time.time()))
    restarted_at = time.time()
    worker.start()
    deadline = time.monotonic() + 60
    while len(slots_seen(sink)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await http.put(url, json={"enabled": False})
    seen = slots_seen(sink)
    slots = Counter(slot for slot, _ in seen)
    assert all(n == 1 for n in slots.values()), slots  # the fired slot did not fire again
    assert len(seen) >= 2, seen
    catch_up = datetime.fromisoformat(seen[1][0]).timestamp()
    assert catch_up == missed, seen  # the slot missed while down ran once, late
    assert catch_up < restarted_at


async def test_slots_stay_exactly_once_across_a_join_and_a_leader_crash(
        spawn_worker: Callable[..., WorkerProcess], sink: Sink,
        http: httpx.AsyncClient) -> None:
    """The first worker is the leader while alone; a second joins, then the first is
    killed (-9), so the ticker moves to the second worker mid-schedule."""
    first = spawn_worker(env=FAST)
    wf = await create_workflow(http, first.url, notifying(sink))
    created = await http.post(f"{first.url}/api/workflows/{wf}/schedule",
                              json={"cron_expression": "*/2 * * * * *", "timezone": "UTC"})
    assert created.status_code == 201, created.text

    async def until(count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(slots_seen(sink)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert len(slots_seen(sink)) >= count, slots_seen(sink)

    await until(2)
    second = spawn_worker(env=FAST)
    await until(len(slots_seen(sink)) + 2)
    first.kill()
    before = len(slots_seen(sink))
    await until(before + 3, timeout=90)  # the second worker took over the ticker
    off = await http.put(f"{second.url}/api/workflows/{wf}/schedule", json={"enabled": False})
    assert off.status_code == 200, off.text
    await asyncio.sleep(3)
    seen = slots_seen(sink)
    await assert_one_run_per_slot(http, second.url, wf, seen)
