"""Per-key concurrency: runs with the same key wait their turn, in order.

A run agent (keyed by run id) cannot see other runs, so a workflow with a
`concurrency` block sends its run requests to the run-gate topic keyed by
`<tenant>/<workflow>/<key value>` instead of run-commands. The gate agent owns
one row per key (the gates table): the runs holding a slot and the requests
waiting, in arrival order. It forwards a request to run-commands while fewer
than `limit` runs hold slots; a gated run's end (the run agent sends a
`release` keyed the same way) frees its slot for the first waiting request.
Workflows without the block never touch this path.

Redeliveries are harmless: a request already holding a slot is forwarded
again (the run agent ignores a duplicate request), one already waiting is not
queued twice, and a release of a run holding no slot does nothing.
"""

from __future__ import annotations

from typing import Any

from schemas import DecodeError, codec
from streams.engine import Engine

_GATE = codec("run_gate")


def step(state: dict[str, Any] | None, message: dict[str, Any]
         ) -> tuple[dict[str, Any] | None, list[tuple[str, bytes]]]:
    """(new state or None when the key is idle, run-commands records to forward)."""
    state = state or {"active": [], "waiting": [], "limit": 1}
    active = list(state["active"])
    waiting = list(state["waiting"])
    limit = state["limit"]
    forward: list[tuple[str, bytes]] = []
    run_id = message["run_id"]
    if message["kind"] == "request":
        limit = max(1, message["limit"])
        if run_id in active:
            forward.append((run_id, message["command"]))
        elif all(w["run_id"] != run_id for w in waiting):
            if len(active) < limit:
                active.append(run_id)
                forward.append((run_id, message["command"]))
            else:
                waiting.append({"run_id": run_id, "command": message["command"]})
    else:
        if run_id in active:
            active.remove(run_id)
        waiting = [w for w in waiting if w["run_id"] != run_id]
    while len(active) < limit and waiting:
        first = waiting.pop(0)
        active.append(first["run_id"])
        forward.append((first["run_id"], first["command"]))
    if not active and not waiting:
        return None, forward
    return {"active": active, "waiting": waiting, "limit": limit}, forward


def register(engine: Engine) -> None:
    gates = engine.gates

    @engine.app.agent(engine.run_gate, name="run-gate")
    async def gate_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                message = _GATE.decode(event.value)
                if message["kind"] == "request" and message["command"] is None:
                    raise ValueError("a gate request without its run command")
            except (DecodeError, ValueError) as exc:
                await engine.dead_letter(event, f"bad run-gate record: {exc}", kind="decode")
                continue
            key = message["gate"]
            state, forward = step(gates.get(key), message)
            if state is None:
                if key in gates:
                    del gates[key]
            else:
                gates[key] = state
            for run_id, raw in forward:
                await engine.run_commands.send(key=run_id, value=raw)
