"""The metric catalogue as a table: README's Operations > Metrics block and `hopflow metrics`.

Generated from the family objects in streams/metrics.py, so the README cannot drift
from what workers export (tests/test_metrics_table.py compares them).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams import metrics

Family = Counter | Gauge | Histogram


def families() -> list[Family]:
    """Every family streams/metrics.py declares, in declaration order."""
    return [obj for obj in vars(metrics).values() if isinstance(obj, (Counter, Gauge, Histogram))]


def exported_name(family: Family) -> str:
    """The name /metrics shows (a counter's with `_total`)."""
    name: str = family._name
    return f"{name}_total" if family._type == "counter" else name


def rows() -> list[dict[str, str]]:
    return [{"name": exported_name(f), "type": f._type,
             "labels": ", ".join(f._labelnames) or "-", "help": f._documentation}
            for f in families()]


def markdown() -> str:
    lines = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"]
    for row in rows():
        help_text = row["help"].replace("|", "\\|")
        lines.append(f"| `{row['name']}` | {row['type']} | {row['labels']} | {help_text} |")
    return "\n".join(lines) + "\n"
