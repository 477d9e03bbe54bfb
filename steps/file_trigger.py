"""The `file_upload` trigger's filters: which content types and sizes start the workflow.

`trigger: {"type": "file_upload", "content_types": [...], "max_size": <bytes>,
"fan_out": "rows"}`, all optional. With `fan_out: "rows"` an uploaded CSV starts
one run per row (the row as the run's input, header -> cell) as a bulk job.
A content type is exact (`text/csv`) or a family (`image/*`);
parameters (`; charset=...`) are ignored. Checked at save (`issues`) and on
every upload (`refusal`), by the HTTP upload route and the uploads topic alike.
"""

from __future__ import annotations

import re
from typing import Any

from steps.base import Issue

TYPE = "file_upload"
FAN_OUT = ("rows",)
_MEDIA = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")
MAX_TYPES = 100


def issues(trigger: dict[str, Any]) -> list[Issue]:
    """What is wrong with a file_upload trigger's filters, each naming its field."""
    if trigger.get("type") != TYPE:
        return []
    found: list[Issue] = []
    types = trigger.get("content_types")
    if types is not None and (not isinstance(types, list) or len(types) > MAX_TYPES or not all(
            isinstance(t, str) and _MEDIA.match(t.strip().lower()) for t in types)):
        found.append(Issue("trigger.content_types",
                           f"must be a list of at most {MAX_TYPES} media types such as "
                           "application/pdf or image/*"))
    size = trigger.get("max_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        found.append(Issue("trigger.max_size", "must be a positive number of bytes"))
    fan_out = trigger.get("fan_out")
    if fan_out is not None and fan_out not in FAN_OUT:
        found.append(Issue("trigger.fan_out", 'must be "rows" (one run per CSV row) or absent'))
    return found


def fans_out(trigger: dict[str, Any]) -> bool:
    """One run per CSV row (a bulk job) rather than one run with the file."""
    return trigger.get("fan_out") == "rows"


def allows_type(patterns: list[str] | None, content_type: str) -> bool:
    if not patterns:
        return True
    actual = content_type.split(";")[0].strip().lower()
    family = actual.split("/")[0]
    for pattern in patterns:
        wanted = pattern.strip().lower()
        if wanted == actual or (wanted.endswith("/*") and wanted[:-2] == family):
            return True
    return False


def refusal(trigger: dict[str, Any], content_type: str, size: int
            ) -> tuple[int, str, str] | None:
    """(status, field, why) when the filters refuse this file, else None."""
    if not allows_type(trigger.get("content_types"), content_type):
        return (415, "file", f"content type {content_type} is not one of "
                             f"{', '.join(trigger['content_types'])}")
    limit = trigger.get("max_size")
    if isinstance(limit, int) and size > limit:
        return (413, "file", f"the file is {size} bytes; this workflow takes at most {limit}")
    return None
