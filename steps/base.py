"""What every step type shares: its outcome, its errors, its validation issues."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["pure", "io", "delay"]
TRANSIENT = "transient"  # trying again may help (timeouts, 429, 5xx, lost connections)
PERMANENT = "permanent"  # it will fail the same way again (4xx, validation, refusals)


@dataclass(frozen=True)
class Issue:
    """One problem in a definition; `field` is a dotted path from the definition root."""

    field: str
    message: str


class StepFailed(Exception):
    """A step could not do its job; `retryable` says whether trying again may help.

    `output` is what the peer answered, if it answered (kept in the step log);
    `retry_after` is how many seconds the peer asked us to wait (429/503 Retry-After).
    steps/errors.py builds these for HTTP answers and failed exchanges.
    """

    def __init__(self, message: str, *, retryable: bool = False,
                 request: dict[str, Any] | None = None, output: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.request = request
        self.output = output
        self.retry_after = retry_after

    @property
    def error_class(self) -> str:
        return TRANSIENT if self.retryable else PERMANENT


@dataclass
class Outcome:
    """What an executed step hands back to the run; `credits` is the usage it bills."""

    output: Any = None
    request: dict[str, Any] | None = None
    credits: int = 0


@dataclass
class ExecContext:
    """Per-execution facts an I/O step needs besides its rendered config."""

    run_id: str
    tenant: str
    step_id: str
    attempt: int
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """Same for a redelivered execution, different for a retry."""
        return f"{self.run_id}:{self.step_id}:{self.attempt}"


class StepType(Protocol):
    """The registry's view of a step module."""

    name: str
    kind: Kind

    def validate(self, config: dict[str, Any], where: str) -> list[Issue]: ...


def timeout_issues(config: dict[str, Any], where: str, default: float,
                   maximum: float) -> list[Issue]:
    """The one rule for a step's `timeout`: seconds in (0, maximum]."""
    timeout = config.get("timeout", default)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 < timeout <= maximum):
        return [Issue(f"{where}.timeout", f"must be a number of seconds in (0, {maximum:g}]")]
    return []


def headers_issues(config: dict[str, Any], where: str) -> list[Issue]:
    """Request headers: an object of strings (templates allowed)."""
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return [Issue(f"{where}.headers", "must be an object of string values")]
    return []


def scalar_text(value: Any) -> str | None:
    """How a scalar prints everywhere (templates, casts): JSON's words; None for containers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None
