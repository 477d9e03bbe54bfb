"""The operator's way in: send registry commands and read the registry without a worker.

`hopflow keys|tenants|secrets` use it to bootstrap a tenant (its first owner
key) before anyone can call the API, and tests use it to make their keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import codec
from schemas.registry import decode_entry
from topics.catalog import Catalog
from topics.kafka_security import client_options

_COMMAND = codec("control_command")
OPERATOR = "operator"


async def send_command(bootstrap: str, app_id: str, tenant: str, op: str,
                       payload: dict[str, Any], actor: str = OPERATOR) -> str:
    """Produce one command (acknowledged by the broker); returns its id."""
    command_id = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    await producer.start()
    try:
        await producer.send_and_wait(
            Catalog(app_id).control_commands.name, key=tenant.encode(),
            value=_COMMAND.encode({"id": command_id, "tenant": tenant, "op": op,
                                   "actor": actor, "payload": orjson.dumps(payload).decode(),
                                   "ts_ms": int(time.time() * 1000)}))
    finally:
        await producer.stop()
    return command_id


async def read_registry(bootstrap: str, app_id: str) -> dict[str, dict[str, Any]]:
    """key -> entry, the registry as of now (reads the changelog to its end)."""
    topic = Catalog(app_id).changelog("registry")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **client_options())
    await consumer.start()
    data: dict[str, dict[str, Any]] = {}
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return data
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    key = record.key.decode()
                    if record.value is None:
                        data.pop(key, None)
                    else:
                        data[key] = decode_entry(record.value)
    finally:
        await consumer.stop()
    return data


async def wait_outcome(bootstrap: str, app_id: str, command_id: str, timeout: float = 30.0
                       ) -> dict[str, Any] | None:
    """The control agent's answer (needs a running worker); None if none came in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for entry in (await read_registry(bootstrap, app_id)).values():
            if entry["kind"] == "outcome" and command_id in entry["body"].get("recent", ()):
                body = entry["body"]
                return body if body["command_id"] == command_id else {"ok": True}
        await asyncio.sleep(0.3)
    return None
