"""Inline bulk lookups: one lookup step per item, run in-process, billed once per API call.

Why not runs: an inline call is answered while the client waits (up to 1,000
items), so a run per item would put 1,000 runs on the run-commands topic and
the history store for an answer that is streamed and forgotten. The items run
here, through the same step modules a run uses (`module.execute({"value":
item}, ctx)`, with the provider the executor would pass), and the call's
credits reach the tenant's usage as ONE `usage.recorded` event on run-events
when the call ends (history/projection.py adds it to usage_daily).

Offline lookups are CPU work: they run one at a time, in order, yielding to the
event loop between items so other requests keep moving. Provider lookups wait
on the network: PROVIDER_CONCURRENCY at a time. An item counts (and is billed)
only once it finished; `close()` cancels what has not, so a client that goes
away pays for what ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from schemas import run_events as ev
from steps.base import ExecContext
from steps.lookups import company, domain, email, google, ip, phone
from streams.bulk.lookup import run_lookup, secrets_of
from streams.engine import Engine, now_ms

log = logging.getLogger(__name__)
OFFLINE_CONCURRENCY = 1  # CPU-bound: more tasks would only interleave, not overlap
PROVIDER_CONCURRENCY = 8


@dataclass(frozen=True)
class BulkKind:
    """One inline bulk route: its lookup step, the body fields naming the items, the cap."""

    path: str
    type: str  # the lookup type as bulk CSV jobs name it (email, phone, company...)
    module: ModuleType
    fields: tuple[str, ...]  # the first present one is read; the first is the documented one
    cap: int
    summary: str

    @property
    def usage_type(self) -> str:
        """The usage table's step type, shared with bulk CSV jobs of the same lookup type
        and apart from the same lookup run in workflows."""
        return f"bulk_{self.type}"

    @property
    def provider(self) -> str | None:
        return getattr(self.module, "PROVIDER", None)


KINDS: tuple[BulkKind, ...] = (
    BulkKind("/api/bulk-lookup", "email", email, ("emails",), 1000,
             "Validate up to 1,000 email addresses"),
    BulkKind("/api/bulk-phone-lookup", "phone", phone, ("phones", "queries"), 1000,
             "Validate and describe up to 1,000 phone numbers"),
    BulkKind("/api/bulk-google-search", "google", google, ("queries",), 100,
             "Web search results for up to 100 queries (provider)"),
    BulkKind("/api/bulk-company-search", "company", company, ("queries",), 100,
             "Company details for up to 100 names, domains or emails (provider)"),
    BulkKind("/api/bulk-domain-search", "domain", domain, ("queries",), 100,
             "Split up to 100 host names by the Public Suffix List"),
    BulkKind("/api/bulk-ip-search", "ip", ip, ("queries",), 100,
             "Version, scope and country of up to 100 IP addresses"),
)


class NoProvider(Exception):
    """The lookup needs a provider this deployment has not configured (names the setting)."""


@dataclass
class ItemResult:
    index: int
    input: Any
    ok: bool  # the lookup answered and the input was valid
    output: Any  # the lookup's output when it answered (also for invalid input), else None
    error: str | None  # why not ok: the input's reason, or the failure
    credits: int

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "input": self.input, "ok": self.ok, "output": self.output,
                "error": self.error, "credits": self.credits}


class InlineBulk:
    """The lookups of one inline bulk call: started once, read as they finish, closed once."""

    def __init__(self, engine: Engine, tenant: str, kind: BulkKind, items: list[str],
                 config: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.tenant = tenant
        self.kind = kind
        self.items = items
        self.config = config or {}
        self.call_id = f"bulk-{uuid.uuid4().hex}"
        self.done: list[ItemResult] = []
        self.cancelled = False
        self._queue: asyncio.Queue[ItemResult | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._extras: dict[str, Any] = {}
        self._secrets: tuple[str, ...] = ()
        if kind.provider is not None:
            provider = engine.settings.provider(kind.provider)
            if provider is None:
                raise NoProvider(f"{kind.module.name} has no provider configured: set "
                                 f"{kind.module.ENV}")
            self._extras["provider"] = provider
            self._secrets = secrets_of(provider)  # never in an answer or a log

    # ---------------------------------------------------------------- running

    def start(self) -> None:
        indexes = iter(range(len(self.items)))  # shared: each index is taken once
        width = OFFLINE_CONCURRENCY if self.kind.provider is None else PROVIDER_CONCURRENCY
        self._tasks = [asyncio.create_task(self._work(indexes))
                       for _ in range(min(width, len(self.items)))]

    async def _work(self, indexes: Iterator[int]) -> None:
        for index in indexes:
            result = await self._one(index)
            self.done.append(result)  # only a finished item counts, and is billed
            self._queue.put_nowait(result)
            await asyncio.sleep(0)  # offline lookups are CPU work: let the loop breathe

    async def _one(self, index: int) -> ItemResult:
        item = self.items[index]
        ctx = ExecContext(self.call_id, self.tenant, str(index), 1, dict(self._extras))
        looked = await run_lookup(self.kind.module, {**self.config, "value": item}, ctx,
                                  self._secrets)
        return ItemResult(index, item, looked.ok, looked.output, looked.error, looked.credits)

    async def next(self, timeout: float) -> ItemResult | None:
        """The next finished item, or None after `timeout` s (or once cancelled)."""
        if not self._queue.empty():  # the usual case with offline lookups: no timer task
            return self._queue.get_nowait()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self._queue.get(), timeout)
        return None

    @property
    def finished(self) -> bool:
        return len(self.done) == len(self.items)

    def cancel(self) -> None:
        """Stop the items not finished (the client went away); wakes a waiting `next`."""
        if self.finished or self.cancelled:
            return
        self.cancelled = True
        for task in self._tasks:
            task.cancel()
        self._queue.put_nowait(None)

    # ---------------------------------------------------------------- the end

    @property
    def credits(self) -> int:
        return sum(r.credits for r in self.done)

    def summary(self) -> dict[str, Any]:
        succeeded = sum(1 for r in self.done if r.ok)
        return {"total": len(self.items), "succeeded": succeeded,
                "failed": len(self.done) - succeeded, "credits": self.credits,
                "cancelled": self.cancelled}

    def results(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in sorted(self.done, key=lambda r: r.index)]

    async def close(self) -> None:
        """Cancel what is left and bill what finished: one usage event per call, once.

        Shielded: a handler cancelled because its client left still records the usage.
        """
        if self._closed:
            return
        self._closed = True
        if not self.finished:
            self.cancel()
        await asyncio.shield(self._settle())

    async def _settle(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self.done:
            return
        raw = ev.encode_usage(call_id=self.call_id, tenant=self.tenant, time_ms=now_ms(),
                              step_type=self.kind.usage_type, credits=self.credits,
                              calls=len(self.done))
        try:
            await self.engine.run_events.send(key=self.call_id, value=raw)
        except Exception:
            log.exception("inline bulk %s: usage of call %s (%d credits) not recorded",
                          self.kind.module.name, self.call_id, self.credits)
