"""Daily send quotas (reference 004's Daily Send Limits and Recipient Caps), counted exactly.

A step that is about to send an email or SMS asks for `units` of its
channel through `sendquota.reserve`; the tenant's control agent, the one
writer of the tenant's rows, checks the plan and counts, so two workers
sending at once cannot both take the last unit. The day is the agent's UTC
day; the row `sendquota/<tenant>/<channel>:<yyyy-mm-dd>` keeps the count and
the keys of recent reservations, so a redelivered execution (same key) is not
counted twice. The previous days' rows are dropped when a new day's is made.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from streams.control.base import Op, Rejected, Tx, required

CHANNELS = ("email", "sms")
KEYS_KEPT = 1000  # more than any plan's daily cap: every reservation of a day is remembered
LABEL = {"email": "email", "sms": "SMS"}


def day_of(now_ms: int) -> str:
    return dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).strftime("%Y-%m-%d")


def row_id(channel: str, day: str) -> str:
    return f"{channel}:{day}"


def reserve(tx: Tx, payload: dict[str, Any]) -> dict[str, Any]:
    channel = required(payload, "channel")
    if channel not in CHANNELS:
        raise Rejected(400, f"channel must be one of {', '.join(CHANNELS)}", "channel")
    units, recipients = required(payload, "units", int), required(payload, "recipients", int)
    key = required(payload, "key")
    if units < 1 or recipients < 1:
        raise Rejected(400, "units and recipients must be at least 1", "units")
    plan = tx.plan
    per_day, per_message = plan.send_caps(channel)
    label = LABEL[channel]
    if per_message is not None and recipients > per_message:
        noun = "recipient" if per_message == 1 else "recipients"
        raise Rejected(429, f"plan {plan.name} allows {per_message} {noun} per {label} "
                            f"(this one has {recipients})", "recipients")
    day = day_of(tx.now)
    rid = row_id(channel, day)
    row = tx.get("sendquota", rid)
    if row is None:
        for back in range(1, 8):  # yesterday's (and older) counters are done with
            old = row_id(channel, day_of(tx.now - back * 86_400_000))
            if tx.get("sendquota", old) is not None:
                tx.delete("sendquota", old)
        row = {"channel": channel, "day": day, "used": 0, "keys": []}
    if key in row["keys"]:
        return {"channel": channel, "day": day, "used": row["used"], "limit": per_day,
                "repeated": True}
    if per_day is not None and row["used"] + units > per_day:
        raise Rejected(429, f"daily {label} limit of {per_day} reached for plan {plan.name} "
                            f"({row['used']} sent today, {day} UTC)", "plan.daily_sends")
    used = row["used"] + units
    tx.put("sendquota", rid, {**row, "used": used, "keys": [*row["keys"][-(KEYS_KEPT - 1):],
                                                            key]})
    return {"channel": channel, "day": day, "used": used, "limit": per_day,
            "repeated": False}


OPS: dict[str, Op] = {"sendquota.reserve": reserve}
