"""Real-broker tests for dev.kafka: no mocks, a real JVM on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from dev.kafka import KAFKA_VERSION, BrokerError, BrokerSettings, start, status, stop
from tests.kafka_fixture import claim_port


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerSettings]:
    """Its own port (19192, or the next free pair) and data dir, apart from the session broker."""
    pinned = os.environ.get("HOPFLOW_TEST_RUNNER_PORT")
    with claim_port(int(pinned or 19192), tmp_path / "kafka", strict=bool(pinned)) as (settings, _):
        yield settings  # claim_port stops whatever a failing test left running


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            record = await asyncio.wait_for(consumer.getone(tp), timeout=15)
            values.append(record.value)
        return values
    finally:
        await consumer.stop()


def test_start_stop_restart_keeps_data(own_broker: BrokerSettings) -> None:
    s = own_broker
    assert not status(s).running

    first = start(s)
    assert first.running and first.pid is not None
    assert (first.bootstrap, first.data_dir, first.version) == (
        f"127.0.0.1:{s.port}",
        s.data,
        KAFKA_VERSION,
    )
    assert status(s) == first
    assert start(s).pid == first.pid  # idempotent: no second JVM

    asyncio.run(_create_topic(s.bootstrap, "runner-survives"))
    asyncio.run(_produce(s.bootstrap, "runner-survives", b"still here"))

    assert stop(s) is True
    down = status(s)
    assert not down.running and down.pid is None
    assert not (s.data / "broker.pid").exists()
    assert stop(s) is False  # nothing left to stop

    again = start(s)
    assert again.running and again.pid != first.pid
    assert asyncio.run(_read_all(s.bootstrap, "runner-survives")) == [b"still here"]
    assert stop(s) is True
    assert not status(s).running


def test_auto_create_is_disabled(kafka_broker: BrokerSettings) -> None:
    async def scenario() -> list[str]:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=3000
        )
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.send_and_wait("never-declared", b"x")
        finally:
            await producer.stop()
        return await _list_topics(kafka_broker.bootstrap)

    assert "never-declared" not in asyncio.run(scenario())


def test_start_from_inside_an_event_loop_is_idempotent(kafka_broker: BrokerSettings) -> None:
    async def inside_loop() -> int | None:
        return start(kafka_broker).pid  # readiness probe must not call asyncio.run on this loop

    pid = asyncio.run(inside_loop())
    assert pid is not None and pid == status(kafka_broker).pid


def test_port_held_by_another_process_is_reported(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(BrokerError, match="in use by something that is not our broker"):
            start(BrokerSettings(port=port, data_dir=tmp_path))


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOPFLOW_KAFKA_PORT", "12345")
    monkeypatch.setenv("HOPFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("HOPFLOW_KAFKA_HEAP", "256m")
    s = BrokerSettings.from_env()
    assert (s.port, s.home, s.heap, s.bootstrap) == (12345, tmp_path, "256m", "127.0.0.1:12345")
    assert s.data_dir == tmp_path / "kafka" / "data-12345"
    assert s.jars_dir == tmp_path / "kafka" / "jars" / KAFKA_VERSION
    assert (
        BrokerSettings.from_env(port=23456, heap=None).port == 23456
    )  # overrides win, None ignored
    assert BrokerSettings.from_env(port=23456, heap=None).heap == "256m"
