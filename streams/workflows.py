"""The workflows agent: applies create/update/delete commands, one key at a time.

Commands for one workflow share a partition, so versions are numbered by a
single writer; every worker reads the result through its changelog replica.
"""

from __future__ import annotations

from schemas import DecodeError, codec
from streams.engine import Engine

_COMMAND = codec("workflow_command")


def workflow_key(tenant: str, workflow_id: str) -> str:
    return f"{tenant}/{workflow_id}"


def register(engine: Engine) -> None:
    table = engine.workflows

    @engine.app.agent(engine.workflow_commands, name="workflow-agent")
    async def workflow_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                command = _COMMAND.decode(event.value)
            except DecodeError as exc:
                await engine.dead_letter(event, str(exc))
                continue
            key = workflow_key(command["tenant"], command["workflow_id"])
            current = table.get(key)
            if command["kind"] == "delete":
                if current is not None:
                    del table[key]
                continue
            if command["expect_exists"] and current is None:
                continue  # deleted meanwhile; the API already answered
            table[key] = {
                "tenant": command["tenant"], "id": command["workflow_id"],
                "version": (current["version"] + 1) if current else 1,
                "definition": command["definition"],
                "created_ms": current["created_ms"] if current else command["ts_ms"],
                "updated_ms": command["ts_ms"], "command_id": command["id"]}
