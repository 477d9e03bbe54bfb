"""The Faust app and everything registered on it: topics, tables, agents, timers.

`Engine` is the one object the API and the command line hold. Topics carry raw
bytes and agents decode them, so a malformed record is dead-lettered with its
reason instead of crashing a stream.
"""

from __future__ import annotations

import time
from typing import Any

import faust

import streams.faust_fixes  # noqa: F401  (must patch Faust before the app exists)
from history import Database
from schemas import codec
from streams.file_store import open_store
from streams.keyring import Keyring
from streams.projector import HistoryProjector
from streams.registry import Registry
from streams.settings import Settings
from streams.waiters import Waiters
from topics.catalog import Catalog, TopicSpec
from topics.codecs import Avro, RegistryEntry


def now_ms() -> int:
    return int(time.time() * 1000)


class Engine:
    """One worker's view of a hopflow deployment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.app_id, settings.partitions, run_events_retention_ms=int(
            max(settings.history_retention_days, 1) * 86_400_000))
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.bootstrap}",
            store="memory://",
            autodiscover=False,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.topic_replication_factor,
            broker_credentials=settings.kafka.faust_credentials(),
            producer_acks=-1,  # acks=all: an accepted run survives losing the leader
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            web_host=settings.web_host,
            web_bind=settings.web_bind,
            web_port=settings.web_port,
            canonical_url=settings.canonical_url,
            datadir=str(settings.datadir),
            table_standby_replicas=0,
            # A crashed worker's partitions move after 10 s instead of Faust's 60 s.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            broker_commit_every=1000,
            broker_commit_interval=0.5,
            producer_linger=0.002,
            web_enabled=True,
            # Faust's built-in views would serve raw table rows (/table/runs/<id>/)
            # past the API's tenant checks: off.
            web_tables_enabled=False,
            web_router_enabled=False,
            web_graph_enabled=False,
            web_stats_enabled=False,
        )
        self.run_commands = self._topic(self.catalog.run_commands)
        self.step_dispatch = self._topic(self.catalog.step_dispatch)
        self.run_events = self._topic(self.catalog.run_events)
        self.control_commands = self._topic(self.catalog.control_commands)
        self.workflow_events = self._topic(self.catalog.workflow_events)
        self.dead_letters = self._topic(self.catalog.dead_letters)
        self.platform_events = self._topic(self.catalog.platform_events)
        self.monitor_events = self._topic(self.catalog.monitor_events)
        self.ingest = self._topic(self.catalog.ingest)
        self.uploads = self._topic(self.catalog.uploads)
        self.run_gate = self._topic(self.catalog.run_gate)
        self.bulk_control = self._topic(self.catalog.bulk_control)  # streams/bulk
        self.bulk_rows = self._topic(self.catalog.bulk_rows)
        self.runs = self._table("runs", "run_state")
        self.timers = self._table("timers", "timer")
        self.registry_table = self._table("registry", RegistryEntry())
        self.gates = self._table("gates", "gate_state")
        self.registry = Registry(settings.bootstrap, self.catalog.changelog("registry"),
                                 loop=None, security=settings.kafka)
        self.app.service(self.registry)  # type: ignore[arg-type]
        self.history = Database(settings.history_url)
        self.projector = HistoryProjector(settings, self.catalog, self.history)
        self.app.service(self.projector)  # type: ignore[arg-type]
        self.waiters = Waiters()
        # Attachments and uploads: steps get the store, never a path.
        self.files = open_store(settings)
        # Secrets' keys, built once: the API encrypts with it, step executors decrypt.
        self.keyring = Keyring.from_settings(settings.secrets_keys, settings.secrets_key_file)

    def _topic(self, spec: TopicSpec) -> faust.TopicT:
        return self.app.topic(spec.name, partitions=spec.partitions, key_serializer="utf8",
                              value_serializer="raw", internal=False)

    def _table(self, name: str, schema: str | Any) -> faust.Table:
        value_codec = Avro(schema) if isinstance(schema, str) else schema
        # Faust derives a table's serializers from model types; ours are plain
        # dicts in Avro, so the changelog topic is declared here with our codecs
        # (recovery decodes with the topic's codecs, writes with the table's).
        changelog = self.app.topic(
            self.catalog.changelog(name), partitions=self.settings.partitions,
            key_serializer="utf8", value_serializer=value_codec, compacting=True,
            deleting=False, internal=True,
            # Not a stream source: nothing acks or commits it (as Faust's own changelogs),
            # and a compacted log has holes the in-order fetch rule must not wait on.
            acks=False)
        table = self.app.Table(name, partitions=self.settings.partitions,
                               changelog_topic=changelog)
        table.key_serializer = "utf8"
        table.value_serializer = value_codec
        return table

    @property
    def ready(self) -> bool:
        """Topics exist (checked before start), tables recovered, replica caught up."""
        recovery = self.app.tables.recovery
        return (recovery.completed.is_set() and not recovery.in_recovery
                and self.registry.caught_up.is_set() and not self.app.rebalancing)

    async def dead_letter(self, event: Any, reason: str) -> None:
        msg = event.message
        await self.dead_letters.send(key=msg.topic, value=codec("dead_letter").encode({
            "topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
            "key": msg.key if isinstance(msg.key, bytes) else None,
            "value": msg.value if isinstance(msg.value, bytes) else None,
            "reason": reason, "ts_ms": now_ms()}))
