"""Read workers' /metrics for `hopflow top` and `hopflow dashboard`: sums, rates, quantiles.

Why not a Prometheus server: the point of these commands is seeing health without one. The
text is parsed with prometheus_client's own parser (the library that writes it), samples of
every given worker are summed (counters and histogram buckets add up across workers; lag is
per partition and each partition has one owner), and the math Prometheus would do
(`rate`, `histogram_quantile`) is done here on two scrapes.

A family that is missing or has no samples yet reads as empty (zero), never as an error:
a fresh worker exports most labelled families only after their first event.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
# Gauges whose sum over workers means nothing (seconds behind, recovery time): kept as the
# largest worker's value instead.
MAX_OVER_WORKERS = frozenset({"hopflow_history_projection_lag_seconds",
                              "hopflow_table_recovery_last_seconds"})
Key = tuple[str, ...]


@dataclass
class Scrape:
    """Every sample of one moment, summed over workers: sample name -> labels -> value."""

    at: float
    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)  # url -> why it was not read

    def add_text(self, text: str) -> None:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):  # creation times do not add up
                    continue
                by_labels = self.samples.setdefault(sample.name, {})
                labels = frozenset(sample.labels.items())
                old, new = by_labels.get(labels), float(sample.value)
                if old is None:
                    by_labels[labels] = new
                elif sample.name in MAX_OVER_WORKERS:
                    by_labels[labels] = max(old, new)
                else:
                    by_labels[labels] = old + new

    def total(self, name: str, by: Sequence[str] = (), **where: str) -> dict[Key, float]:
        """Sum of `name`'s samples grouped by the labels `by` (like PromQL `sum by`)."""
        out: dict[Key, float] = defaultdict(float)
        for labels, value in self.samples.get(name, {}).items():
            found = dict(labels)
            if all(found.get(k) == v for k, v in where.items()):
                out[tuple(found.get(k, "") for k in by)] += value
        return dict(out)

    def value(self, name: str, **where: str) -> float:
        """One number: the sum of every sample of `name` (0 when there is none)."""
        return self.total(name, (), **where).get((), 0.0)

    def buckets(self, family: str, by: Sequence[str] = ()) -> dict[Key, list[tuple[float, float]]]:
        """Cumulative histogram buckets `[(le, count)]` ascending, grouped by `by`."""
        grouped: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for labels, value in self.samples.get(f"{family}_bucket", {}).items():
            found = dict(labels)
            le = float(found.get("le", "+Inf"))
            grouped[tuple(found.get(k, "") for k in by)][le] += value
        return {key: sorted(bounds.items()) for key, bounds in grouped.items()}


async def fetch(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(f"{url.rstrip('/')}/metrics")
    response.raise_for_status()
    return response.text


async def scrape(urls: Sequence[str], timeout: float = 5.0) -> Scrape:
    """One scrape of every worker; an unreachable one is named in `errors`, not fatal."""
    result = Scrape(at=time.monotonic(), urls=tuple(urls))
    async with httpx.AsyncClient(timeout=timeout) as client:
        texts = await asyncio.gather(*(fetch(client, u) for u in urls), return_exceptions=True)
    for url, text in zip(urls, texts, strict=True):
        if isinstance(text, BaseException):
            result.errors[url] = f"{type(text).__name__}: {text}"
        else:
            result.add_text(text)
    return result


def increase(before: float, after: float) -> float:
    """A counter's growth; a drop means the worker restarted, so `after` is all growth."""
    return after - before if after >= before else after


def rates(prev: Scrape, cur: Scrape, name: str, by: Sequence[str] = (), **where: str
          ) -> dict[Key, float]:
    """Per-second growth of a counter between two scrapes, grouped by `by`."""
    seconds = max(cur.at - prev.at, 1e-9)
    before, after = prev.total(name, by, **where), cur.total(name, by, **where)
    return {key: increase(before.get(key, 0.0), value) / seconds
            for key, value in after.items()}


def delta_buckets(before: list[tuple[float, float]], after: list[tuple[float, float]]
                  ) -> list[tuple[float, float]]:
    """Observations between two scrapes, bucket by bucket."""
    old = dict(before)
    return [(le, increase(old.get(le, 0.0), count)) for le, count in after]


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q.

    `buckets` are cumulative `(le, count)` pairs with a `+Inf` one. None when empty; a rank
    in the `+Inf` bucket answers the highest finite bound (as Prometheus does).
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank and count > lower_count:
            if math.isinf(le):
                return lower_bound
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = (le if not math.isinf(le) else lower_bound), count
    return lower_bound


def window_quantiles(prev: Scrape | None, cur: Scrape, family: str, by: Sequence[str] = (),
                     qs: Sequence[float] = (0.5, 0.95, 0.99)
                     ) -> dict[Key, tuple[float | None, ...]]:
    """Quantiles of the observations between two scrapes, or since start when the window
    saw none (so a quiet deployment still shows its latencies rather than blanks)."""
    now = cur.buckets(family, by)
    then = prev.buckets(family, by) if prev is not None else {}
    out: dict[Key, tuple[float | None, ...]] = {}
    for key, after in now.items():
        window = delta_buckets(then.get(key, []), after)
        chosen = window if window and window[-1][1] > 0 else after
        out[key] = tuple(quantile(q, chosen) for q in qs)
    return out
