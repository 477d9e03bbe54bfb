"""The webhook deliverer: run-events -> pending deliveries -> signed HTTP attempts.

Two loops, both off the run agent's path:
- the selector, an aiokafka consumer of run-events in its own group
  (`<app>-webhooks`), turns each event an endpoint subscribed to into a pending
  row of the history store's deliveries table and commits the offsets after the
  rows are written; an event of a tenant with no endpoints costs one dict lookup;
- the sender claims due rows (`next_attempt_ms`), signs and posts them through
  the guarded client, and writes the outcome: delivered, failed (permanent, or
  retried for a day) or pending again with an exponential backoff.
A waiting retry is a row, so it survives a restart; (endpoint, event id) is the
row's key, so a redelivered event is not sent twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from mode import Service

from history import StoreUnavailable
from schemas import DecodeError
from schemas import run_events as ev
from steps.errors import classify_http_status
from steps.http import BlockedURL, ResponseTooLarge, guarded_request
from streams import intake
from streams.control.webhook_endpoints import KIND as WEBHOOK_KIND
from streams.engine import Engine, now_ms
from streams.keyring import KeyringError
from streams.webhooks import signing, store

log = logging.getLogger(__name__)
KIND = WEBHOOK_KIND  # not "webhook": ingest settings use that kind
SUBSCRIBABLE = frozenset(signing.SUBSCRIBABLE)
SEND_EVERY_SECONDS = 0.3
IDLE_COMMIT_SECONDS = 5.0  # with no endpoint anywhere: how often the offsets skip ahead
SEND_BATCH = 50
TIMEOUT_SECONDS = 10.0
SYSTEM_ACTOR = "system:webhooks"


def matches(endpoint: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an enabled endpoint subscribed to this event (type, workflow, age)."""
    if not endpoint.get("enabled", True):
        return False
    types = endpoint.get("event_types") or []
    if "*" not in types and event["type"] not in types:
        return False
    wf = endpoint.get("workflow_id")
    if wf and wf != event.get("workflowid"):
        return False
    return bool(ev.parse_time(event["time"]) >= endpoint.get("created_ms", 0) - 1000)


class Deliverer(Service):
    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.topic = engine.catalog.run_events.name
        self.group = f"{engine.settings.app_id}-webhooks"
        self._consumer: AIOKafkaConsumer | None = None
        self._disabling: set[str] = set()

    async def on_start(self) -> None:
        self.add_future(self._select())
        self.add_future(self._send_loop())

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _store(self, fn: Any) -> Any:
        """fn(tx) on the history store, waiting out an outage (nothing is lost meanwhile)."""
        await self.engine.projector.migrated.wait()
        delay = 0.2
        while True:
            try:
                return await self.engine.history.write(fn)
            except StoreUnavailable as exc:
                log.warning("webhooks: store unavailable, retrying: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------ selector

    async def _select(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.engine.settings.bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500,
            session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
            **self.engine.settings.kafka.client_options())
        self._consumer = consumer
        await consumer.start()
        idle_since = 0.0
        while not self.should_stop:
            if not self.engine.registry.any(KIND):
                idle_since = await self._idle(consumer, idle_since)
                continue
            if consumer.paused():
                consumer.resume(*consumer.paused())
            batches = await consumer.getmany(timeout_ms=500)
            rows: list[dict[str, Any]] = []
            for messages in batches.values():
                for message in messages:
                    rows.extend(self.select(message.value))
            if rows:
                await self._store(functools.partial(store.enqueue, rows=rows))
            if batches:
                await consumer.commit()

    async def _idle(self, consumer: AIOKafkaConsumer, since: float) -> float:
        """No endpoint anywhere: fetch nothing, and keep the committed offsets at the end.

        Decoding every run event to find no endpoint cost the bench ~15 % of its
        throughput. An endpoint only gets events from after its creation (`matches`),
        so skipping to the end loses nothing; the commit every few seconds keeps the
        replay short when the first endpoint appears.
        """
        assigned = consumer.assignment()
        if assigned:
            consumer.pause(*assigned)
            loop_time = asyncio.get_running_loop().time()
            if loop_time - since >= IDLE_COMMIT_SECONDS:
                await consumer.seek_to_end(*assigned)
                await consumer.commit({tp: await consumer.position(tp) for tp in assigned})
                since = loop_time
        await asyncio.sleep(1.0)
        return since

    def select(self, raw: bytes | None) -> list[dict[str, Any]]:
        """The pending rows one run event makes (none, cheaply, for most events)."""
        registry = self.engine.registry
        try:
            event = ev.decode(raw or b"")
        except (DecodeError, ValueError, KeyError):
            return []
        if event["type"] not in SUBSCRIBABLE or not registry.count(KIND, event["tenant"]):
            return []
        body = orjson.dumps(event).decode()
        now = now_ms()
        return [{"endpoint_id": ep["id"], "event_id": event["id"], "tenant": event["tenant"],
                 "event_type": event["type"], "body": body, "due_ms": now}
                for ep in registry.entries(KIND, event["tenant"]).values()
                if matches(ep, event)]

    # ------------------------------------------------------------ sender

    async def _send_loop(self) -> None:
        await self.engine.projector.migrated.wait()
        while not self.should_stop:
            if not self.engine.registry.any(KIND):  # no endpoint: nothing can be due
                await asyncio.sleep(1.0)
                continue
            try:
                due = await self._store(lambda tx: store.claim_due(tx, now_ms(), SEND_BATCH))
                if due:
                    await asyncio.gather(*(self._attempt(d) for d in due))
                    continue
            except Exception:  # one bad row must not stop every tenant's deliveries
                log.exception("webhooks: send loop failed")
            await asyncio.sleep(SEND_EVERY_SECONDS)

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        endpoint = self.engine.registry.get(KIND, delivery["tenant"], delivery["endpoint_id"])
        if endpoint is None or not endpoint.get("enabled", True):
            why = "endpoint deleted" if endpoint is None else "endpoint disabled"
            await self._store(lambda tx: store.stop_pending(tx, delivery["endpoint_id"], why))
            return
        number = delivery["attempts"] + 1
        status_code, error, retryable, retry_after = await self._post(endpoint, delivery)
        ok = status_code is not None and 200 <= status_code < 300
        now = now_ms()
        attempt = {"attempt": number, "status": status_code, "error": error, "time_ms": now}
        if ok:
            state, next_ms = "delivered", None
        else:
            wait = signing.next_delay(number, signing.backoff_seconds(), retry_after)
            next_ms = now + int(wait * 1000)
            expired = next_ms - delivery["created_ms"] > signing.GIVE_UP_SECONDS * 1000
            if retryable and not expired:
                state = "pending"
            else:
                state, next_ms = "failed", None
        attempt["next_attempt_ms"] = next_ms

        def write(tx: Any) -> int:
            store.record(tx, delivery, attempt, state, next_ms)
            return store.health(tx, delivery["endpoint_id"], ok, now)

        failures = await self._store(write)
        if not ok and failures >= signing.disable_after():
            await self._disable(delivery["tenant"], delivery["endpoint_id"], failures, error)

    async def _post(self, endpoint: dict[str, Any], delivery: dict[str, Any]
                    ) -> tuple[int | None, str | None, bool, float | None]:
        """(HTTP status, error, retryable, Retry-After seconds) of one signed POST."""
        try:
            secret = self.engine.keyring.decrypt(endpoint["ciphertext"])
        except KeyringError:
            return None, "the signing secret cannot be decrypted with the configured keys", \
                True, None
        body = delivery["body"].encode()
        headers = signing.headers(secret, delivery["event_id"], int(time.time()), body)
        try:
            answer = await guarded_request("POST", endpoint["url"], headers=headers,
                                           content=body, timeout=TIMEOUT_SECONDS,
                                           max_bytes=65_536)
        except (BlockedURL, ResponseTooLarge) as exc:
            return None, str(exc), False, None
        except httpx.HTTPError as exc:  # timeouts and lost connections: try again later
            return None, f"{type(exc).__name__}: {exc}"[:500], True, None
        if answer.status_code < 300:
            return answer.status_code, None, False, None
        verdict = classify_http_status(answer.status_code, answer.headers)
        return (answer.status_code, f"HTTP {answer.status_code}", verdict.retryable,
                verdict.retry_after)

    async def _disable(self, tenant: str, endpoint_id: str, failures: int,
                       error: str | None) -> None:
        if endpoint_id in self._disabling:
            return
        self._disabling.add(endpoint_id)
        reason = f"disabled after {failures} consecutive failed attempts (last: {error})"
        log.warning("webhooks: endpoint %s of tenant %s %s", endpoint_id, tenant, reason)
        try:
            await intake.send_control(self.engine, tenant, "webhook_endpoint.disable",
                                      SYSTEM_ACTOR, {"id": endpoint_id, "reason": reason})

            def stop(tx: Any) -> None:
                store.stop_pending(tx, endpoint_id, reason)
                store.health(tx, endpoint_id, True, now_ms())  # a re-enable starts afresh

            await self._store(stop)
        finally:
            self._disabling.discard(endpoint_id)


def register(engine: Engine) -> Deliverer:
    deliverer = Deliverer(engine)
    engine.app.service(deliverer)  # type: ignore[arg-type]
    return deliverer
