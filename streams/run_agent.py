"""The run agent: owns the runs and timers tables, moves each run's state machine."""

from __future__ import annotations

import logging

from schemas import DecodeError, codec
from streams import machine
from streams.engine import Engine, now_ms
from streams.timers import TimerService

log = logging.getLogger(__name__)
_COMMAND = codec("run_command")
_EVENT = codec("run_event")


def register(engine: Engine, timers: TimerService) -> None:
    runs, timer_table = engine.runs, engine.timers

    @engine.app.agent(engine.run_commands, name="run-agent")
    async def run_agent(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                command = _COMMAND.decode(event.value)
            except DecodeError as exc:
                await engine.dead_letter(event, str(exc))
                continue
            run_id = command["run_id"]
            if event.key != run_id:
                await engine.dead_letter(event, f"key {event.key!r} is not the run id {run_id!r}")
                continue
            try:
                state, effects = machine.apply(runs.get(run_id), command, now_ms())
            except Exception as exc:  # a bug must not stall the partition: keep the record
                log.exception("run %s: command %s failed", run_id, command["id"])
                await engine.dead_letter(event, f"run agent error: {type(exc).__name__}: {exc}")
                continue
            if effects.changed and state is not None:
                runs[run_id] = state
            if effects.warning is not None:
                log.warning("run %s: %s", run_id, effects.warning)
            if effects.set_timer is not None:  # one timer per run: a new one replaces the old
                timer_table[run_id] = effects.set_timer
                timers.schedule(effects.set_timer)
            elif effects.clear_timer and run_id in timer_table:
                del timer_table[run_id]
            if effects.dispatch is not None:
                await engine.step_dispatch.send(key=run_id, value=effects.dispatch)
            if effects.event is not None:
                await engine.run_events.send(key=run_id, value=_EVENT.encode(effects.event))
            if state is not None and effects.changed:
                engine.waiters.notify(run_id, state)
