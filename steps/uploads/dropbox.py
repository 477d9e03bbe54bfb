"""upload_dropbox: put a file into Dropbox (reference 004 ActionType 14).

`POST {content}/2/files/upload` with the bytes as the body and the arguments in
the `Dropbox-API-Arg` header (JSON, every non-ASCII character escaped as
\\uXXXX: an HTTP header carries ASCII only). Dropbox commits the file only
when the whole body has arrived, so no temporary name is needed. One request
takes at most 150 MB (bigger files need upload sessions); stored files are
capped below that anyway (base.MAX_UPLOAD_BYTES).

The path is the credential's `base_path` joined with the rendered path, always
absolute. `overwrite: false` uploads in mode `add` without autorename, so an
existing file is a 409 path/conflict and the step fails for good. The content
base is `https://content.dropboxapi.com` unless the operator sets
`HOPFLOW_DROPBOX_CONTENT_URL`.
"""

from __future__ import annotations

from typing import Any

import orjson

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.http import Fetched
from steps.uploads import base
from steps.uploads.web import Deadline, base_url, call

name = "upload_dropbox"
kind = "io"
TITLE = "Upload a file to Dropbox"
CONFIG = base.CONFIG
OUTPUT = {**base.OUTPUT, "id": "Dropbox's file id (id:...)", "rev": "the file's revision"}
DEFAULT_BASE = "https://content.dropboxapi.com"
MAX_SINGLE_UPLOAD = 150 * 1024 * 1024  # /2/files/upload's limit
WHAT = "Dropbox"


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, "dropbox")


def upload_url() -> str:
    return base_url("HOPFLOW_DROPBOX_CONTENT_URL", DEFAULT_BASE) + "/2/files/upload"


def dropbox_path(rendered: Any, base_path: str | None) -> str:
    """The absolute Dropbox path: inside `base_path` (or the root)."""
    final = base.remote_path(rendered, base_path or "/")
    return final if final.startswith("/") else "/" + final


def api_arg(args: dict[str, Any]) -> str:
    """JSON for the Dropbox-API-Arg header: ASCII only, DEL and non-ASCII as \\uXXXX."""
    text = orjson.dumps(args).decode()
    return "".join(c if " " <= c < "\x7f" else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                   else "".join(f"\\u{u:04x}" for u in _surrogates(ord(c))) for c in text)


def _surrogates(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def _summary(response: Fetched) -> str:
    try:
        answer = response.json()
    except orjson.JSONDecodeError:
        return ""
    if isinstance(answer, dict):
        return str(answer.get("error_summary", ""))[:200]
    return ""


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, "dropbox", name)
    path = dropbox_path(config.get("path"), credential.get("base_path"))
    content = await base.content_of(config, ctx)
    if content.size > MAX_SINGLE_UPLOAD:
        raise StepFailed(f"the content is {content.size} bytes; Dropbox takes at most "
                         f"{MAX_SINGLE_UPLOAD} in one upload")
    overwrite = config.get("overwrite", True)
    args = {"path": path, "mode": "overwrite" if overwrite else "add", "autorename": False,
            "strict_conflict": not overwrite, "mute": True}
    request = base.request_log(content, path, mode=args["mode"])

    def detail(response: Fetched) -> str:
        summary = _summary(response)
        if response.status_code == 409 and summary.startswith("path/conflict"):
            return f"{path!r} already exists (overwrite is false; {summary})"
        return summary

    answer = await call(WHAT, "POST", upload_url(), deadline=Deadline(
        float(config.get("timeout", base.DEFAULT_TIMEOUT))), request=request, headers={
            "Authorization": f"Bearer {credential['access_token']}",
            "Dropbox-API-Arg": api_arg(args), "Content-Type": "application/octet-stream"},
        content=await content.read(), ok=(200,), detail=detail)
    try:
        meta = answer.json()
    except orjson.JSONDecodeError:
        raise StepFailed("Dropbox's answer is not JSON", retryable=True,
                         request=request) from None
    meta = meta if isinstance(meta, dict) else {}
    return Outcome(output=base.output(content, str(meta.get("path_display") or path),
                                      id=meta.get("id"), rev=meta.get("rev")),
                   request=request)
