"""Check a resume body against a pause signal (the API does it before resuming a run)."""

from __future__ import annotations

from typing import Any

import orjson

from steps import collect_inputs, user_action
from steps.human import COLLECT, ResumeInvalid

# The answer becomes the step's output, kept twice in the run's state (one Kafka record,
# 1 MB by default) and sent in the resume command: the same budget as a parse's content.
MAX_ANSWER_BYTES = 256 * 1024


def check_resume(pause: dict[str, Any], body: Any) -> dict[str, Any]:
    """The step output a resume body gives, or ResumeInvalid naming the field."""
    if not isinstance(body, dict):
        raise ResumeInvalid("body", "must be a JSON object")
    kind = body.get("type", pause["type"])
    if kind != pause["type"]:
        raise ResumeInvalid("type", f"the run waits for {pause['type']!r}, not {kind!r}")
    if kind == COLLECT:
        output = collect_inputs.answer(pause["fields"], body.get("data"))
        size = len(orjson.dumps(output))
        if size > MAX_ANSWER_BYTES:  # 100 fields of 100,000 characters fit one body
            raise ResumeInvalid("data", f"the answer is {size} bytes of JSON; at most "
                                        f"{MAX_ANSWER_BYTES}")
        return output
    return user_action.answer(pause["actions"], body)
