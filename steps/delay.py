"""delay: a durable wait, kept as a timer so a restart does not lose it."""

from __future__ import annotations

import re
from typing import Any

from steps.base import Issue

name = "delay"
kind = "delay"

MAX_SECONDS = 30 * 24 * 3600
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")

TITLE = "Wait durably (a timer, so a restart loses nothing), then go on"
CONFIG: dict[str, str] = {
    "duration": "string: 500ms, 30s, 5m, 2h or 1d",
    "seconds": "number: seconds to wait (adds to minutes and hours)",
    "minutes": "number: minutes to wait",
    "hours": "number: hours to wait",
}
OUTPUT: dict[str, str] = {"waited_ms": "how long the run actually waited"}


class BadDelay(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def seconds(config: dict[str, Any]) -> float:
    """The wait in seconds from `seconds`, `minutes`, `hours` or `duration` ("90s", "5m")."""
    if "duration" in config:
        match = _DURATION.match(str(config["duration"]))
        if not match:
            raise BadDelay("duration", "must look like 500ms, 30s, 5m, 2h or 1d")
        return float(match.group(1)) * _UNITS[match.group(2)]
    total = 0.0
    for key, factor in (("seconds", 1), ("minutes", 60), ("hours", 3600)):
        if key in config:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise BadDelay(key, "must be a non-negative number")
            total += value * factor
    return total


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    if not any(k in config for k in ("seconds", "minutes", "hours", "duration")):
        return [Issue(f"{where}.seconds", "a delay needs seconds, minutes, hours or duration")]
    try:
        wait = seconds(config)
    except BadDelay as exc:
        return [Issue(f"{where}.{exc.key}", str(exc))]
    if wait > MAX_SECONDS:
        return [Issue(where, f"a delay may last at most {MAX_SECONDS} seconds (30 days)")]
    return []
