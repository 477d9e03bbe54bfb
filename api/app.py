"""Register every view on the engine's web server."""

from __future__ import annotations

from api import health, runs, workflows
from streams.engine import Engine


def register(engine: Engine) -> None:
    health.register(engine)
    workflows.register(engine)
    runs.register(engine)
