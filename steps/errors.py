"""One classification of step failures: transient (worth a retry) or permanent.

Every step that calls a peer uses these helpers, so a 429 means the same thing
to a webhook, a lookup provider and an integration:

- transient: timeouts, connection errors, 408, 425, 429 and 5xx (except 501 and
  505, which say the peer will never do it), so the run retries with backoff;
- permanent: every other 4xx, refusals of the outbound guard (SSRF rules, size
  cap), bad configs and templates: asking again gets the same answer.

A 429 or 503 may carry `Retry-After` (seconds or an HTTP date): the failure
carries it as `retry_after` seconds and the run waits at least that long.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from steps.base import PERMANENT, TRANSIENT, StepFailed
from steps.http import BlockedURL, ResponseTooLarge

__all__ = ["PERMANENT", "TRANSIENT", "HttpClass", "classify_http_status", "http_failure",
           "parse_retry_after", "request_failure"]

_TRANSIENT_4XX = frozenset({408, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})  # not implemented / version: never going to work
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# A peer's number is clamped here (the run waits at most an hour anyway, steps/graph.py):
# unbounded, it overflowed the Avro long of the step result and the executor could not send it.
MAX_RETRY_AFTER_SECONDS = 86400.0


@dataclass(frozen=True)
class HttpClass:
    """How an HTTP answer fails: its class and, when the peer said so, when to come back."""

    error_class: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.error_class == TRANSIENT


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date); None if unusable.

    A date in the past means "now" (0). Garbage is ignored rather than failing the step.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # "²".isdigit() is true too, and int() refuses it
        return float(min(int(text[:12]), MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means no zone was given
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), MAX_RETRY_AFTER_SECONDS)


def classify_http_status(status: int, headers: Mapping[str, str] | None = None,
                         now: float | None = None) -> HttpClass:
    """The class of a >= 400 answer, with Retry-After (429, 503) in seconds when given."""
    transient = status in _TRANSIENT_4XX or (status >= 500 and status not in _PERMANENT_5XX)
    retry_after = None
    if transient and status in _RETRY_AFTER_STATUSES and headers is not None:
        retry_after = parse_retry_after(headers.get("retry-after"), now)
    return HttpClass(TRANSIENT if transient else PERMANENT, retry_after)


def http_failure(what: str, status: int, headers: Mapping[str, str] | None, *,
                 request: dict[str, Any] | None = None, output: Any = None) -> StepFailed:
    """The StepFailed for a peer's >= 400 answer, classified (raise it)."""
    verdict = classify_http_status(status, headers)
    wait = "" if verdict.retry_after is None else f" (Retry-After {verdict.retry_after:g}s)"
    return StepFailed(f"{what} answered HTTP {status}{wait}", retryable=verdict.retryable,
                      retry_after=verdict.retry_after, request=request, output=output)


def request_failure(what: str, exc: Exception, *,
                    request: dict[str, Any] | None = None) -> StepFailed:
    """The StepFailed for an exchange that got no answer: a refusal, a timeout, a lost link."""
    if isinstance(exc, BlockedURL | ResponseTooLarge):  # asking again changes nothing
        return StepFailed(str(exc), request=request)
    if isinstance(exc, httpx.TimeoutException):
        return StepFailed(f"timed out calling {what}", retryable=True, request=request)
    if isinstance(exc, httpx.HTTPError):
        return StepFailed(f"could not call {what}: {exc}", retryable=True, request=request)
    raise TypeError(f"not an outbound-call error: {type(exc).__name__}") from exc
