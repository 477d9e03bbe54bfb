"""The deliveries table (history store): enqueue, claim what is due, record attempts.

Plain functions of a history transaction, so they run the same on SQLite and
PostgreSQL. Claiming moves `next_attempt_ms` forward only if it still holds the
value read: with a shared PostgreSQL store, two workers never try one attempt.
"""

from __future__ import annotations

from typing import Any

import orjson

from history.database import Tx

CLAIM_LEASE_MS = 120_000  # a claimed attempt is retried after this if its worker died
HISTORY_KEPT = 30  # attempts kept per delivery row


def enqueue(tx: Tx, rows: list[dict[str, Any]]) -> int:
    """Insert new pending deliveries; an (endpoint, event id) already there is skipped."""
    added = 0
    for r in rows:
        added += tx.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, tenant, event_type, body, "
            "status, attempts, next_attempt_ms, created_ms) VALUES (?, ?, ?, ?, ?, 'pending', "
            "0, ?, ?) ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            (r["endpoint_id"], r["event_id"], r["tenant"], r["event_type"], r["body"],
             r["due_ms"], r["due_ms"]))
    return added


def claim_due(tx: Tx, now: int, limit: int) -> list[dict[str, Any]]:
    """Due pending deliveries, each leased to the caller (see CLAIM_LEASE_MS)."""
    found = tx.all(
        "SELECT endpoint_id, event_id, tenant, event_type, body, attempts, next_attempt_ms, "
        "created_ms FROM webhook_deliveries WHERE next_attempt_ms IS NOT NULL AND "
        "next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?", (now, limit))
    claimed = []
    for ep, ev, tenant, etype, body, attempts, due, created in found:
        if tx.execute("UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE endpoint_id = ? "
                      "AND event_id = ? AND next_attempt_ms = ?",
                      (now + CLAIM_LEASE_MS, ep, ev, due)):
            claimed.append({"endpoint_id": ep, "event_id": ev, "tenant": tenant,
                            "event_type": etype, "body": body, "attempts": attempts,
                            "created_ms": created})
    return claimed


def record(tx: Tx, delivery: dict[str, Any], attempt: dict[str, Any], status: str,
           next_ms: int | None) -> None:
    """One attempt's outcome on its row (status, counters, the capped attempt list)."""
    row = tx.one("SELECT history FROM webhook_deliveries WHERE endpoint_id = ? AND "
                 "event_id = ?", (delivery["endpoint_id"], delivery["event_id"]))
    history = orjson.loads(row[0]) if row else []
    history = [*history, attempt][-HISTORY_KEPT:]
    tx.execute("UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, "
               "last_error = ?, last_attempt_ms = ?, next_attempt_ms = ?, history = ? "
               "WHERE endpoint_id = ? AND event_id = ?",
               (status, attempt["attempt"], attempt["status"], attempt["error"],
                attempt["time_ms"], next_ms, orjson.dumps(history).decode(),
                delivery["endpoint_id"], delivery["event_id"]))


def health(tx: Tx, endpoint_id: str, ok: bool, now: int) -> int:
    """Count a failed attempt (or reset on success); the endpoint's consecutive failures."""
    if ok:
        tx.execute("DELETE FROM webhook_endpoint_health WHERE endpoint_id = ?", (endpoint_id,))
        return 0
    tx.execute("INSERT INTO webhook_endpoint_health (endpoint_id, failures, updated_ms) "
               "VALUES (?, 1, ?) ON CONFLICT (endpoint_id) DO UPDATE SET "
               "failures = webhook_endpoint_health.failures + 1, updated_ms = ?",
               (endpoint_id, now, now))
    row = tx.one("SELECT failures FROM webhook_endpoint_health WHERE endpoint_id = ?",
                 (endpoint_id,))
    return int(row[0]) if row else 0


def stop_pending(tx: Tx, endpoint_id: str, reason: str) -> None:
    """An endpoint disabled or deleted: its waiting deliveries end as failed."""
    tx.execute("UPDATE webhook_deliveries SET status = 'failed', next_attempt_ms = NULL, "
               "last_error = COALESCE(last_error, ?) WHERE endpoint_id = ? AND "
               "next_attempt_ms IS NOT NULL", (reason, endpoint_id))


def listed(tx: Tx, endpoint_id: str, limit: int, offset: int
           ) -> tuple[int, list[dict[str, Any]]]:
    """(total, newest first page) of an endpoint's deliveries."""
    total = tx.one("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?",
                   (endpoint_id,))
    rows = tx.all(
        "SELECT event_id, event_type, status, attempts, last_status, last_error, "
        "last_attempt_ms, next_attempt_ms, created_ms, history FROM webhook_deliveries "
        "WHERE endpoint_id = ? ORDER BY created_ms DESC, event_id LIMIT ? OFFSET ?",
        (endpoint_id, limit, offset))
    keys = ("event_id", "event_type", "status", "attempts", "last_status", "last_error",
            "last_attempt_ms", "next_attempt_ms", "created_ms", "history")
    out = []
    for r in rows:
        item = dict(zip(keys, r, strict=True))
        item["history"] = orjson.loads(item["history"])
        out.append(item)
    return (int(total[0]) if total else 0), out
