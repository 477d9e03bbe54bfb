"""Names, partitions, codecs and retention of every topic, in one place.

Kafka's auto-create is off: a topic that is not in this catalog does not
exist. Faust table changelogs are listed too, so they are created with the
partition count and compaction we chose rather than whatever Faust defaults to.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000

# How often a compacted topic's segment closes, and how long its tombstones live.
COMPACT_SEGMENT_MS = 60_000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries and how long it keeps it."""

    name: str
    partitions: int
    key: str
    value: str
    compacted: bool = False
    retention_ms: int | None = 7 * DAY_MS
    doc: str = ""

    @property
    def configs(self) -> dict[str, str]:
        if self.compacted:
            # Segments roll every minute and tombstones live a minute, so the log cleaner
            # keeps a changelog near its live keys: a recovery reads the live runs plus the
            # last ~2-3 minutes of writes, not the history (measured: README, Performance).
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0",
                    "segment.ms": str(COMPACT_SEGMENT_MS),
                    "delete.retention.ms": str(COMPACT_SEGMENT_MS),
                    "min.cleanable.dirty.ratio": "0.1"}
        configs = {"cleanup.policy": "delete"}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        return configs


@dataclass(frozen=True)
class Catalog:
    """The topics of one hopflow deployment; `app_id` namespaces every name."""

    app_id: str
    partitions: int = 8
    # run-events can rebuild the history store only as far back as it keeps records
    run_events_retention_ms: int = 30 * DAY_MS

    def _name(self, short: str) -> str:
        return f"{self.app_id}.{short}"

    def changelog(self, table: str) -> str:
        """Faust's own name for a table's changelog topic."""
        return f"{self.app_id}-{table}-changelog"

    @property
    def run_commands(self) -> TopicSpec:
        return TopicSpec(self._name("run-commands"), self.partitions, "run id (utf-8)",
                         "avro:run_command",
                         doc="RunRequested / StepFinished / TimerFired / Cancel, one run per key")

    @property
    def step_dispatch(self) -> TopicSpec:
        return TopicSpec(self._name("step-dispatch"), self.partitions, "run id (utf-8)",
                         "avro:step_dispatch", doc="I/O steps for the step executors")

    @property
    def run_events(self) -> TopicSpec:
        return TopicSpec(self._name("run-events"), self.partitions, "run id (utf-8)",
                         "avro:run_event", retention_ms=self.run_events_retention_ms,
                         doc="CloudEvents of every run transition: the history store's source "
                             "and the contract for upstream consumers")

    @property
    def control_commands(self) -> TopicSpec:
        return TopicSpec(self._name("control-commands"), self.partitions, "tenant (utf-8)",
                         "avro:control_command",
                         doc="changes to a tenant's registry: workflows, versions, keys, plan, "
                             "secrets, credentials")

    @property
    def workflow_events(self) -> TopicSpec:
        return TopicSpec(self._name("workflow-events"), self.partitions,
                         "tenant/workflow id (utf-8)", "avro:run_event",
                         retention_ms=self.run_events_retention_ms,
                         doc="CloudEvents of workflow changes (created, updated, published, "
                             "archived, ...): the audit trail's source")

    @property
    def dead_letters(self) -> TopicSpec:
        return TopicSpec(self._name("dead-letters"), 1, "source key (bytes)",
                         "avro:dead_letter", retention_ms=30 * DAY_MS,
                         doc="records no agent could use, with the reason")

    @property
    def platform_events(self) -> TopicSpec:
        return TopicSpec(self._name("platform-events"), self.partitions, "tenant (utf-8)",
                         "json: CloudEvents attributes id, type, source, time, specversion, "
                         "plus tenant and data (README, Platform events)",
                         doc="upstream services' domain events; event triggers start runs")

    @property
    def monitor_events(self) -> TopicSpec:
        return TopicSpec(self._name("monitor-events"), self.partitions, "tenant (utf-8)",
                         "json: id, tenant, monitor_id, change_type, time, data "
                         "(README, Monitor events)",
                         doc="changes monitors detect; monitor_event triggers start runs")

    @property
    def ingest(self) -> TopicSpec:
        return TopicSpec(self._name("ingest"), self.partitions,
                         "ingest token or tenant/workflow id (utf-8)",
                         'json: {"body": <string or JSON>, "headers": {...}}',
                         doc="webhook deliveries from a gateway that produces to Kafka: each "
                             "starts a run as POST /api/workflows/ingest/{token} does")

    @property
    def uploads(self) -> TopicSpec:
        return TopicSpec(self._name("uploads"), self.partitions, "tenant (utf-8, optional)",
                         'json: {"tenant", "fileId", "workflowId"?, "input"?, '
                         '"idempotencyKey"?} (README, Files)',
                         doc="files an upload gateway stored (POST /api/files): each starts "
                             "the tenant's file_upload workflows that take it")

    @property
    def run_gate(self) -> TopicSpec:
        return TopicSpec(self._name("run-gate"), self.partitions,
                         "<tenant>/<workflow>/<concurrency key> (utf-8)", "avro:run_gate",
                         doc="per-key concurrency: run requests waiting their turn, and the "
                             "ends of gated runs")

    @property
    def bulk_control(self) -> TopicSpec:
        return TopicSpec(self._name("bulk-control"), self.partitions, "bulk job id (utf-8)",
                         "avro:bulk_control",
                         doc="bulk jobs' commands: created, results batches, cancel "
                             "(the bulk-progress agent and the bulk SQL projector)")

    @property
    def bulk_rows(self) -> TopicSpec:
        return TopicSpec(self._name("bulk-rows"), self.partitions,
                         "<job id>:<row index> (utf-8)", "avro:bulk_row",
                         doc="one record per CSV row of a bulk job, for the row workers")

    @property
    def bulk_jobs_changelog(self) -> TopicSpec:
        return TopicSpec(self.changelog("bulk_jobs"), self.partitions, "bulk job id (utf-8)",
                         "avro:bulk_job", compacted=True,
                         doc="bulk jobs' live state: counters and a bit per row done")

    @property
    def gates_changelog(self) -> TopicSpec:
        return TopicSpec(self.changelog("gates"), self.partitions,
                         "<tenant>/<workflow>/<concurrency key> (utf-8)", "avro:gate_state",
                         compacted=True, doc="per-key concurrency slots and queues")

    @property
    def runs_changelog(self) -> TopicSpec:
        return TopicSpec(self.changelog("runs"), self.partitions, "run id (utf-8)",
                         "avro:run_state", compacted=True, doc="runs table")

    @property
    def timers_changelog(self) -> TopicSpec:
        return TopicSpec(self.changelog("timers"), self.partitions, "run id (utf-8)",
                         "avro:timer", compacted=True, doc="pending durable timers")

    @property
    def registry_changelog(self) -> TopicSpec:
        return TopicSpec(self.changelog("registry"), self.partitions,
                         "<kind>/<tenant>/<id> (utf-8)", "avro:registry_entry", compacted=True,
                         doc="registry table (workflows, versions, keys, plans, secrets, "
                             "credentials), followed by every worker")

    @property
    def leader(self) -> TopicSpec:
        """Faust's leader election topic: whoever holds its one partition runs the
        on_leader timers (the schedule ticker, streams/triggers/scheduler.py)."""
        return TopicSpec(f"{self.app_id}-__assignor-__leader", 1, "none", "none",
                         doc="leader election (Faust's leader assignor); carries no records")

    def all(self) -> list[TopicSpec]:
        return [self.run_commands, self.step_dispatch, self.run_events,
                self.control_commands, self.workflow_events, self.dead_letters, self.ingest,
                self.uploads, self.platform_events, self.monitor_events,
                self.runs_changelog, self.timers_changelog, self.registry_changelog,
                self.run_gate, self.gates_changelog, self.leader, self.bulk_control,
                self.bulk_rows, self.bulk_jobs_changelog]
