"""The run agent: owns the runs and timers tables, moves each run's state machine."""

from __future__ import annotations

import logging

from schemas import DecodeError, codec
from schemas import statuses as st
from streams import log_context, machine, metrics
from streams.bulk.progress import control_record
from streams.engine import Engine, now_ms
from streams.expiry import Expiry
from streams.timers import TimerService

log = logging.getLogger(__name__)
_COMMAND = codec("run_command")
_GATE = codec("run_gate")


def register(engine: Engine, timers: TimerService, expiry: Expiry) -> None:
    runs, timer_table = engine.runs, engine.timers
    grace_ms = int(engine.settings.run_grace_seconds * 1000)

    def expire(run_ids: list[str], now: int) -> None:
        """Tombstone ended runs past their grace period (the history store keeps them)."""
        for run_id in run_ids:
            state = runs.get(run_id)
            if (state is not None and state["status"] in st.TERMINAL
                    and (state["ended_ms"] or 0) + grace_ms <= now):
                del runs[run_id]
                if run_id in timer_table:
                    del timer_table[run_id]

    @engine.app.agent(engine.run_commands, name="run-agent")
    async def run_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                command = _COMMAND.decode(event.value)
            except DecodeError as exc:
                await engine.dead_letter(event, str(exc))
                continue
            if command["kind"] == "expire":
                expire(command["run_ids"], now_ms())
                continue
            run_id = command["run_id"]
            if event.key != run_id:
                await engine.dead_letter(event, f"key {event.key!r} is not the run id {run_id!r}")
                continue
            before = runs.get(run_id)
            request = command["request"]
            workflow_id = (before["workflow_id"] if before is not None
                           else request["workflow_id"] if request is not None
                           else command["workflow_id"])
            finished = command["finished"]
            token = log_context.bind(run_id, command["tenant"], workflow_id,
                                     finished["step_id"] if finished is not None else None)
            try:
                try:
                    state, effects = machine.apply(before, command, now_ms())
                except Exception as exc:  # a bug must not stall the partition: keep the record
                    log.exception("run %s: command %s failed", run_id, command["id"])
                    await engine.dead_letter(event, f"run agent error: {type(exc).__name__}: {exc}")
                    continue
                if effects.changed and state is not None:
                    if before is None:
                        state["partition"] = event.message.partition
                    runs[run_id] = state
                if effects.warning is not None:
                    log.warning("run %s: %s", run_id, effects.warning)
                if effects.watchdog:
                    metrics.WATCHDOG_FIRINGS.inc()
                if effects.orphan:
                    metrics.ORPHAN_COMMANDS.inc()
                if effects.delete:
                    if run_id in runs:
                        del runs[run_id]
                    if run_id in timer_table:
                        del timer_table[run_id]
                elif effects.set_timer is not None:  # one timer per run: a new one replaces the old
                    timer_table[run_id] = effects.set_timer
                    timers.schedule(effects.set_timer)
                elif effects.clear_timer and run_id in timer_table:
                    del timer_table[run_id]
                if effects.dispatch is not None:
                    await engine.step_dispatch.send(key=run_id, value=effects.dispatch)
                for raw in effects.events:
                    await engine.run_events.send(key=run_id, value=raw)
                if effects.bulk_report is not None and state is not None:
                    # a fan-out run ended: ONE record to its job (streams/bulk), nothing for others
                    job = state["bulk"]["job"]
                    await engine.bulk_control.send(key=job, value=control_record(
                        "results", job, state["tenant"], results=[effects.bulk_report]))
                if state is not None and state.get("gate") and state["status"] in st.TERMINAL \
                        and (effects.changed or command["id"] == state["last_command"]):
                    await engine.run_gate.send(key=state["gate"], value=_GATE.encode({
                        "kind": "release", "gate": state["gate"], "run_id": run_id,
                        "limit": 1, "command": None}))
                if state is not None and effects.changed:
                    if state["status"] in st.TERMINAL:
                        expiry.ended(event.message.partition, state["ended_ms"], run_id)
                    engine.waiters.notify(run_id, state)
            finally:
                log_context.reset(token)
