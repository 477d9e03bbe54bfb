"""One bulk item through its lookup step: the rule inline calls and CSV job rows share.

Both run a lookup step module in-process (no run), so both must answer the same
way for the same item: ok when the lookup answered and found the input valid,
the input's `reason` (or the failure) otherwise, credits as the step says (0
for a failure). And both must keep the provider's token out of what they keep:
a provider that echoes the request (an error page quoting the Authorization
header) would otherwise put the token into a streamed result or a job's
results CSV, so outputs and errors are redacted, and log lines written while
the lookup runs are masked (streams/log_redaction.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from steps.base import ExecContext, StepFailed
from steps.redact import redact, redact_text
from streams import log_redaction

log = logging.getLogger(__name__)
MAX_ERROR = 500


@dataclass(frozen=True)
class Looked:
    ok: bool  # the lookup answered and the input was valid
    output: Any  # what the lookup (or the failing provider) answered, redacted; else None
    error: str | None  # why not ok: the input's reason, or the failure
    credits: int


def secrets_of(provider: dict[str, Any] | None) -> tuple[str, ...]:
    """The provider's token (the only secret a lookup holds), to be masked everywhere."""
    token = (provider or {}).get("token")
    return (token,) if token else ()


async def run_lookup(module: ModuleType | Any, config: dict[str, Any], ctx: ExecContext,
                     secrets: tuple[str, ...] = ()) -> Looked:
    """Run `module.execute(config, ctx)`: never raises; a crash is the item's answer."""
    try:
        with log_redaction.using(secrets):
            outcome = await module.execute(config, ctx)
    except StepFailed as exc:
        return Looked(False, redact(exc.output, secrets),
                      redact_text(str(exc), secrets)[:MAX_ERROR], 0)
    except Exception as exc:  # a lookup's bug fails its item, not the call or the job
        with log_redaction.using(secrets):
            log.exception("bulk lookup %s crashed (%s)", getattr(module, "name", module),
                          ctx.idempotency_key)
        return Looked(False, None, f"lookup failed ({type(exc).__name__})", 0)
    output = redact(outcome.output, secrets)
    valid, reason = True, None
    if isinstance(output, dict):
        valid, reason = output.get("valid", True) is not False, output.get("reason")
    ok = valid and reason is None
    return Looked(ok, output, None if ok else (reason or "invalid input"),
                  max(0, int(outcome.credits or 0)))
