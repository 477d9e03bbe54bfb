"""Cron slots: which instants a schedule fires at, in its IANA time zone (no Kafka, no clock).

Slots are wall-clock times: croniter walks naive local times and each is mapped
to one UTC instant, so daylight saving never doubles or loses a slot silently:

- a wall time repeated when clocks go back (fall-back) fires once, at its first
  occurrence (`fold=0`); the repeated hour fires nothing a second time;
- a wall time that does not exist when clocks go forward (spring-forward gap)
  fires once at the first valid instant after the gap (03:00 CEST for 02:30 on
  Europe/Berlin's change day); several gap slots collapse into that instant.

A slot's identity is its UTC epoch second, which is also the run's idempotency
key, so two tickers computing the same slot name the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError as CroniterError
from croniter import croniter

SKIP = "skip"
RUN_ONCE = "run_once"
CATCH_UP = (SKIP, RUN_ONCE)
# A slot older than this when first seen was missed (downtime), not just reached late.
MISSED_AFTER_S = 10
_SAMPLE = 200  # consecutive slots checked against the minimum interval
_WALK_LIMIT = 100_000  # slots walked at most to step over a repeated hour


class ScheduleInvalid(ValueError):
    """A cron expression or time zone the API answers 400 for, naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Cron:
    """A parsed schedule: 5 fields (minute resolution) or 6 with seconds first."""

    expression: str
    zone: ZoneInfo
    seconds: bool

    def _iter(self, start_local: datetime) -> croniter:
        return croniter(self.expression, start_local, second_at_beginning=self.seconds)

    def next_after(self, instant: datetime) -> datetime:
        """The first slot strictly after `instant` (UTC, aware)."""
        walker = self._iter(_local(instant, self.zone))
        for _ in range(_WALK_LIMIT):
            slot = to_utc(walker.get_next(datetime), self.zone)
            if slot > instant:
                return slot
        raise ScheduleInvalid("cron_expression", "no slot found")  # pragma: no cover

    def latest_at(self, instant: datetime) -> datetime | None:
        """The last slot at or before `instant` (UTC, aware), or None if none exists."""
        walker = self._iter(_local(instant + timedelta(seconds=1), self.zone))
        for _ in range(_WALK_LIMIT):
            try:
                slot = to_utc(walker.get_prev(datetime), self.zone)
            except CroniterError:
                return None
            if slot <= instant:
                return slot
        return None  # pragma: no cover


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time of an instant (croniter walks wall times)."""
    return instant.astimezone(zone).replace(tzinfo=None)


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time's instant: first occurrence if repeated, gap's end if nonexistent."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(first, zone) == wall:
        return first
    # In a gap: fold=0 uses the offset before the change (an instant after the gap),
    # fold=1 the one after (an instant before it); the change lies between them.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if _local(mid, zone) >= wall:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def zone_named(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise ScheduleInvalid("timezone", "timezone must be an IANA name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleInvalid("timezone", f"unknown time zone {name!r}") from None


def parse(expression: object, timezone: object, min_interval_s: int) -> Cron:
    """A valid Cron or ScheduleInvalid; seconds (6 fields) only below a 60 s minimum."""
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleInvalid("cron_expression", "cron_expression is required")
    expression = " ".join(expression.split())
    fields = len(expression.split(" "))
    seconds = fields == 6
    if fields == 6 and min_interval_s >= 60:
        raise ScheduleInvalid("cron_expression", "cron_expression must have 5 fields "
                              "(minute hour day-of-month month day-of-week)")
    if fields not in (5, 6) and not (fields == 1 and expression.startswith("@")):
        raise ScheduleInvalid("cron_expression", "cron_expression must have 5 fields "
                              "(minute hour day-of-month month day-of-week)")
    zone = zone_named(timezone)
    if not croniter.is_valid(expression, second_at_beginning=seconds):
        raise ScheduleInvalid("cron_expression", f"cron_expression {expression!r} does not parse")
    cron = Cron(expression, zone, seconds)
    gap = shortest_interval(cron)
    if gap is None:
        raise ScheduleInvalid("cron_expression", f"cron_expression {expression!r} never fires")
    if gap < min_interval_s:
        raise ScheduleInvalid("cron_expression", f"cron_expression fires every {gap} s; the "
                              f"minimum interval is {min_interval_s} s")
    return cron


def shortest_interval(cron: Cron) -> int | None:
    """Seconds between the closest two of the next slots (in UTC; None if under two)."""
    walker = croniter(cron.expression, datetime(2026, 1, 1),
                      second_at_beginning=cron.seconds)
    try:
        times = [walker.get_next(datetime) for _ in range(_SAMPLE)]
    except CroniterError:
        return None
    gaps = [int((b - a).total_seconds()) for a, b in pairwise(times)]
    return min(gaps) if gaps else None


@dataclass(frozen=True)
class Due:
    """What a tick does: fire `slot` (or nothing) and move the cursor to `cursor`."""

    slot: datetime | None
    cursor: datetime


def due(cron: Cron, cursor: datetime, now: datetime, catch_up: str) -> Due | None:
    """The slot to fire now, given the last slot handled (`cursor`); None when nothing is due.

    Normally one slot became due since the last tick and it fires. After downtime
    several may have: `run_once` fires the latest of them (one run for all missed),
    `skip` fires none unless the latest is fresh (less than MISSED_AFTER_S old).
    """
    latest = cron.latest_at(now)
    if latest is None or latest <= cursor:
        return None
    if catch_up == SKIP and (now - latest).total_seconds() > MISSED_AFTER_S:
        return Due(None, latest)
    return Due(latest, latest)


def iso(instant: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in the schedule's zone, with its offset."""
    return instant.astimezone(zone).isoformat()
