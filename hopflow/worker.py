"""Compose one worker: the engine, its agents, and the HTTP API, then run it."""

from __future__ import annotations

import asyncio
import logging

import uvloop
from aiokafka.errors import KafkaError
from faust import Worker

import api
from hopflow import logs
from streams import bulk, executor, expiry, file_retention, gate, run_agent, timers
from streams.control import agent as control_agent
from streams.engine import Engine
from streams.settings import Settings
from streams.triggers import event_agents, ingest_topic, scheduler, uploads_topic
from streams.webhooks import deliverer as webhook_deliverer
from topics.admin import ensure_topics


def build(settings: Settings) -> Engine:
    engine = Engine(settings)
    timer_service = timers.register(engine)
    run_agent.register(engine, timer_service, expiry.register(engine))
    executor.register(engine)
    control_agent.register(engine)
    event_agents.register(engine)  # platform-events, monitor-events -> runs
    ingest_topic.register(engine)
    uploads_topic.register(engine)  # file_upload workflows from an upload gateway
    file_retention.register(engine)
    gate.register(engine)
    webhook_deliverer.register(engine)
    scheduler.register(engine)
    bulk.register(engine)  # bulk CSV jobs: bulk-control, bulk-rows, their SQL projector
    api.register(engine)
    return engine


class _Worker(Worker):
    """Faust's worker with hopflow's log format and level policy on its handlers."""

    log_format = "text"

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logs.install(self.log_format, level)


def run_worker(settings: Settings) -> None:
    """Create the catalog's topics, then run the Faust worker until stopped."""
    loop = uvloop.new_event_loop()  # measured: more runs/s than asyncio's loop (README)
    asyncio.set_event_loop(loop)
    engine = build(settings)
    try:
        loop.run_until_complete(ensure_topics(
            settings.bootstrap, engine.catalog.all(), security=settings.kafka,
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.topic_min_insync_replicas))
    except (KafkaError, OSError, TimeoutError) as exc:
        # The first Kafka call of a start-up: a wrong password, CA or address ends the
        # worker here with one clear line (exit 2) instead of Faust retrying forever.
        logging.basicConfig()
        logging.getLogger(__name__).critical(
            "cannot use Kafka at %s (security protocol %s): %s: %s", settings.bootstrap,
            settings.kafka.protocol, type(exc).__name__, exc)
        raise SystemExit(2) from None
    settings.datadir.mkdir(parents=True, exist_ok=True)
    _Worker.log_format = settings.log_format
    worker = _Worker(engine.app, loglevel=settings.loglevel.upper(), loop=loop,
                    quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG at any level from WARNING
    # up, so every debug line in Faust and mode became a LogRecord (a fifth of a
    # table recovery's time, and spinner escapes in the worker's log). A service has
    # no terminal to spin on.
    worker.spinner = None
    if settings.loglevel.lower() != "debug":  # its warnings are retries it makes itself
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    worker.execute_from_commandline()
