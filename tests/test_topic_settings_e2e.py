"""HOPFLOW_TOPIC_REPLICATION_FACTOR and _MIN_INSYNC_REPLICAS reach every topic a worker
creates (its own and Faust's leader topic, all in topics/catalog.py), on a real broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from dev.kafka import BrokerSettings
from dev.workers import WorkerProcess
from topics.catalog import Catalog

TOPIC_CONFIG = 1  # DescribeConfigs source: set on the topic itself (not a broker default)


async def topic_configs(bootstrap: str, names: list[str], key: str) -> dict[str, tuple[Any, int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    finally:
        await admin.close()
    found = {}
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == key:
                    found[resource[3]] = (entry[1], entry[3])
    return found


async def test_min_insync_replicas_is_set_on_every_created_topic(
        spawn_worker: Callable[..., WorkerProcess], kafka_broker: BrokerSettings) -> None:
    worker = spawn_worker(env={"HOPFLOW_TOPIC_MIN_INSYNC_REPLICAS": "1",
                               "HOPFLOW_TOPIC_REPLICATION_FACTOR": "1"})
    names = [spec.name for spec in Catalog(worker.app_id, worker.partitions).all()]
    found = await topic_configs(kafka_broker.bootstrap, names, "min.insync.replicas")
    assert set(found) == set(names)
    assert all(value == ("1", TOPIC_CONFIG) for value in found.values()), found


def test_a_replication_factor_the_cluster_cannot_meet_stops_start_up_clearly(
        spawn_worker: Callable[..., WorkerProcess]) -> None:
    worker = spawn_worker(wait=0, env={"HOPFLOW_TOPIC_REPLICATION_FACTOR": "3"})
    assert worker.proc is not None
    code = worker.proc.wait(timeout=60)
    log = worker.log_path.read_text(errors="replace")
    assert code == 2, log
    assert "the broker refused to create topic" in log, log
    assert "replication factor" in log.lower(), log
