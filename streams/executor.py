"""Step executors: run I/O steps with bounded concurrency and report back."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from schemas import DecodeError, codec
from steps import registry
from steps.base import ExecContext, StepFailed
from steps.redact import redact, redact_text
from streams import log_context, log_redaction, send_quota, step_secrets
from streams.engine import Engine, now_ms

log = logging.getLogger(__name__)
_DISPATCH = codec("step_dispatch")
_COMMAND = codec("run_command")


def register(engine: Engine) -> None:
    log_redaction.install()
    files = engine.files  # read by reference (parse, uploads); streams/file_store.py

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
            token = log_context.bind(job["run_id"], job["tenant"], job["workflow_id"],
                                     job["step_id"])
            try:
                ctx = ExecContext(job["run_id"], job["tenant"], job["step_id"], job["attempt"],
                                  {"files": files})
                started = now_ms()
                t0 = time.perf_counter()
                finished = {"seq": job["seq"], "step_id": job["step_id"], "attempt": job["attempt"],
                            "ok": False, "retryable": False, "output": None, "error": None,
                            "request": None, "started_ms": started, "ended_ms": started,
                            "retry_after_ms": None, "credits": 0}
                try:
                    prepared = step_secrets.prepare(config, job["tenant"], engine.registry,
                                                    engine.keyring)
                except StepFailed as exc:  # a missing secret or credential: fails for good
                    finished.update(error=str(exc), retryable=False)
                except Exception as exc:  # no message: it might quote a decrypted value
                    log.error("step %s of run %s: reading its secrets failed (%s)",
                              job["step_id"], job["run_id"], type(exc).__name__)
                    finished.update(error=f"could not read the step's secrets "
                                          f"({type(exc).__name__})", retryable=False)
                else:
                    ctx.extras.update(prepared.extras)
                    if getattr(module, "sends", False):  # email/sms: the plan's send caps
                        ctx.extras["reserve"] = send_quota.reserver(
                            engine, job["tenant"], f"{job['run_id']}:{job['seq']}")
                    provider_name = getattr(module, "PROVIDER", None)
                    if provider_name is not None:  # company_lookup, darkweb_lookup
                        provider = engine.settings.provider(provider_name)
                        ctx.extras["provider"] = provider
                        if provider is not None and provider["token"]:
                            prepared.plaintexts.append(provider["token"])  # never in a step log
                    with log_redaction.using(prepared.plaintexts):
                        await _execute(module, prepared, ctx, job, finished)
                finished["ended_ms"] = started + int((time.perf_counter() - t0) * 1000)
                command = {"id": f"fin:{job['seq']}:{job['attempt']}", "run_id": job["run_id"],
                           "tenant": job["tenant"], "ts_ms": now_ms(), "kind": "step_finished",
                           "request": None, "finished": finished, "timer_token": None,
                           "reason": None}
                await engine.run_commands.send(key=job["run_id"], value=_COMMAND.encode(command))
            finally:
                log_context.reset(token)


async def _execute(module: Any, prepared: step_secrets.Prepared, ctx: ExecContext,
                   job: dict[str, Any], finished: dict[str, Any]) -> None:
    """Run the step; what it hands back is stored with the secrets it used masked."""
    used = prepared.plaintexts
    try:
        outcome = await module.execute(prepared.config, ctx)
        finished.update(ok=True, output=orjson.dumps(redact(outcome.output, used)).decode(),
                        request=_json(redact(outcome.request, used)),
                        credits=max(0, int(outcome.credits or 0)))
    except StepFailed as exc:
        finished.update(error=redact_text(str(exc), used), retryable=exc.retryable,
                        request=_json(redact(exc.request, used)),
                        output=_json(redact(exc.output, used)),
                        retry_after_ms=None if exc.retry_after is None
                        else int(exc.retry_after * 1000))
    except Exception as exc:  # an unexpected error is the step's, not the worker's
        log.exception("step %s of run %s crashed", job["step_id"], job["run_id"])
        finished.update(error=redact_text(f"{type(exc).__name__}: {exc}", used), retryable=True)


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
