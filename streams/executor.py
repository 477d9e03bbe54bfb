"""Step executors: run I/O steps with bounded concurrency and report back."""

from __future__ import annotations

import logging
import time

import orjson

from schemas import DecodeError, codec
from steps import registry
from steps.base import ExecContext, StepFailed
from streams.engine import Engine, now_ms

log = logging.getLogger(__name__)
_DISPATCH = codec("step_dispatch")
_COMMAND = codec("run_command")


def register(engine: Engine) -> None:
    @engine.app.agent(engine.step_dispatch, name="step-executor",
                      concurrency=engine.settings.step_concurrency)
    async def step_executor(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            try:
                job = _DISPATCH.decode(event.value)
                module = registry.get(job["step_type"])
                config = orjson.loads(job["config"])
            except (DecodeError, KeyError, orjson.JSONDecodeError) as exc:
                await engine.dead_letter(event, f"bad step dispatch: {exc}")
                continue
            ctx = ExecContext(job["run_id"], job["tenant"], job["step_id"], job["attempt"])
            started = now_ms()
            t0 = time.perf_counter()
            finished = {"seq": job["seq"], "step_id": job["step_id"], "attempt": job["attempt"],
                        "ok": False, "retryable": False, "output": None, "error": None,
                        "request": None, "started_ms": started, "ended_ms": started}
            try:
                outcome = await module.execute(config, ctx)
                finished.update(ok=True, output=orjson.dumps(outcome.output).decode(),
                                request=_json(outcome.request))
            except StepFailed as exc:
                finished.update(error=str(exc), retryable=exc.retryable,
                                request=_json(exc.request), output=_json(exc.output))
            except Exception as exc:  # an unexpected error is the step's, not the worker's
                log.exception("step %s of run %s crashed", job["step_id"], job["run_id"])
                finished.update(error=f"{type(exc).__name__}: {exc}", retryable=True)
            finished["ended_ms"] = started + int((time.perf_counter() - t0) * 1000)
            command = {"id": f"fin:{job['seq']}:{job['attempt']}", "run_id": job["run_id"],
                       "tenant": job["tenant"], "ts_ms": now_ms(), "kind": "step_finished",
                       "request": None, "finished": finished, "timer_token": None,
                       "reason": None}
            await engine.run_commands.send(key=job["run_id"], value=_COMMAND.encode(command))


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
