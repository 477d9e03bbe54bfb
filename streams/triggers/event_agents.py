"""The agents that turn platform events and monitor events into runs.

Each record is parsed (a malformed one is dead-lettered with its reason),
matched against the registry's subscription index (O(workflows subscribed to
that type or monitor)), and every match is launched with `event:<id>` /
`monitor:<id>` as the idempotency key, so a redelivered or republished event
names the same runs and starts nothing new. A run launch refuses (a limit, a
disabled workflow) is logged, counted and dead-lettered: never dropped silently.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.event_types import KNOWN
from streams import metrics
from streams.engine import Engine
from streams.triggers import envelope
from streams.triggers.launch import Launch, Refused, launch

log = logging.getLogger(__name__)
EVENT_TRIGGER = "event"
MONITOR_TRIGGER = "monitor_event"


async def start_matches(engine: Engine, stream_event: Any, tenant: str, workflow_ids: list[str],
                        body: dict[str, Any], trigger: str, key: str) -> int:
    """Launch one run per matching workflow; refusals recorded. How many were requested."""
    started = 0
    for workflow_id in workflow_ids:
        try:
            await launch(engine, Launch(tenant, workflow_id, body, trigger, key, actor=trigger))
            started += 1
        except Refused as exc:
            metrics.RUNS_REFUSED.labels(reason=exc.reason).inc()
            log.warning("%s %s: run of workflow %s refused (%s): %s", trigger, body["id"],
                        workflow_id, exc.status, exc.message)
            await engine.dead_letter(stream_event, f"run refused for workflow {workflow_id} "
                                                   f"({exc.status}): {exc.message}",
                                     kind="refused")
    return started


def register(engine: Engine) -> None:
    subscriptions = engine.registry.subscriptions

    @engine.app.agent(engine.platform_events, name="platform-events")
    async def platform_events(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                body = envelope.platform_event(event.value)
            except envelope.BadEvent as exc:
                await engine.dead_letter(event, f"bad platform event: {exc}", kind="decode")
                continue
            tenant, event_type = body["tenant"], body["type"]
            matched = subscriptions.for_event(tenant, event_type, body.get("data"))
            if not matched:
                metrics.EVENTS_UNMATCHED.labels(
                    event_type if event_type in KNOWN else "unknown").inc()
                continue
            await start_matches(engine, event, tenant, matched, body, EVENT_TRIGGER,
                                f"event:{body['id']}")

    @engine.app.agent(engine.monitor_events, name="monitor-events")
    async def monitor_events(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                body = envelope.monitor_event(event.value)
            except envelope.BadEvent as exc:
                await engine.dead_letter(event, f"bad monitor event: {exc}", kind="decode")
                continue
            tenant = body["tenant"]
            matched = subscriptions.for_monitor(tenant, body["monitor_id"],
                                                body["change_type"], body.get("data"))
            if not matched:
                metrics.EVENTS_UNMATCHED.labels(MONITOR_TRIGGER).inc()
                continue
            await start_matches(engine, event, tenant, matched, body, MONITOR_TRIGGER,
                                f"monitor:{body['id']}")
