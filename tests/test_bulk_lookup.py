"""The one rule inline bulk calls and CSV job rows share (streams/bulk/lookup.py).

Both used to run lookups their own way: the row workers kept a failing
provider's answer unredacted in the job's results (a provider echoing the
Authorization header put the token into the results CSV) and told ok apart by
`reason` only, the inline calls by `valid`. These run both callers on the same
items and check they agree and never keep the token.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from steps.base import ExecContext, Outcome, StepFailed
from streams.bulk import workers
from streams.bulk.lookup import run_lookup, secrets_of

TOKEN = "tok-S3cr3t-provider-Value"
PROVIDER = {"url": "http://127.0.0.1:9/{query}", "token": TOKEN}


class EchoingProvider:
    """A lookup whose provider fails and echoes the request (headers included)."""

    name = "echo_lookup"
    PROVIDER = "company"

    async def execute(self, config: dict[str, Any], ctx: ExecContext) -> Outcome:
        token = ctx.extras["provider"]["token"]
        if config["value"] == "crash":
            logging.getLogger("peer").error("bad header Authorization: Bearer %s", token)
            raise RuntimeError(f"boom with Bearer {token}")
        if config["value"] == "invalid":
            return Outcome({"input": "invalid", "valid": False, "reason": "not a name",
                            "credits": 0}, {}, 0)
        if config["value"] == "odd":  # valid false but no reason: still not ok
            return Outcome({"input": "odd", "valid": False, "reason": None}, {}, 0)
        raise StepFailed(f"the provider answered 500 for Bearer {token}", output={
            "status": 500, "body": f"you sent Authorization: Bearer {token}"})


def test_secrets_of() -> None:
    assert secrets_of(PROVIDER) == (TOKEN,)
    assert secrets_of(None) == () and secrets_of({"url": "x", "token": None}) == ()


async def test_a_failing_provider_never_leaves_its_token(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    from streams import log_redaction

    log_redaction.install()
    ctx = ExecContext("job", "t", "row-0", 1, {"provider": PROVIDER})
    for value in ("echo", "crash"):
        looked = await run_lookup(EchoingProvider(), {"value": value}, ctx, (TOKEN,))
        assert not looked.ok and looked.credits == 0 and looked.error
        assert TOKEN not in orjson.dumps([looked.output, looked.error]).decode()
    assert TOKEN not in caplog.text


async def test_job_rows_keep_no_token_and_agree_with_inline_calls() -> None:
    for value, ok, error in (("echo", False, None), ("invalid", False, "not a name"),
                             ("odd", False, "invalid input")):
        row = {"job_id": "job", "tenant": "t", "index": 3, "query": value, "error": None}
        result = await workers.lookup(EchoingProvider(), row, PROVIDER)
        assert TOKEN not in orjson.dumps(result).decode()
        assert result["ok"] is ok and result["credits"] == 0
        if error is not None:
            assert result["error"] == error
        ctx = ExecContext("call", "t", "3", 1, {"provider": PROVIDER})
        inline = await run_lookup(EchoingProvider(), {"value": value}, ctx, (TOKEN,))
        assert (inline.ok, inline.error) == (result["ok"], result["error"])
