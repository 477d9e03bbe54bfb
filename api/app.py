"""Register every view on the engine's web server."""

from __future__ import annotations

from api import health, metrics, run_queries, runs, workflows
from streams.engine import Engine


def register(engine: Engine) -> None:
    health.register(engine)
    metrics.register(engine)
    run_queries.register(engine)  # first: its plain paths must win over /api/workflows/{id}
    workflows.register(engine)
    runs.register(engine)
