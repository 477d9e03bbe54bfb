"""upload_box: put a file into a Box folder (reference 004 ActionType 13).

`POST {upload}/api/2.0/files/content`, multipart with `attributes` (name and
parent folder id) before `file`. The folders of the path are looked up under
the credential's `folder_id` (`GET {api}/2.0/folders/{id}/items`) and created
when missing (`POST {api}/2.0/folders`). Box creates the file only once the
whole body has arrived, so no temporary name is needed. A name already in use
(409 item_name_in_use) becomes a new version of that file
(`POST {upload}/api/2.0/files/{id}/content`) when `overwrite` is true, and a
permanent failure when it is false. One request takes at most 50 MB (Box's
chunked sessions are for bigger files).

Bases: `https://upload.box.com` and `https://api.box.com`, overridable per
deployment by `HOPFLOW_BOX_UPLOAD_URL` and `HOPFLOW_BOX_API_URL`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.http import Fetched
from steps.uploads import base
from steps.uploads.web import Deadline, base_url, call, multipart

name = "upload_box"
kind = "io"
TITLE = "Upload a file to Box"
CONFIG = base.CONFIG
OUTPUT = {**base.OUTPUT, "id": "Box's file id",
          "new_version": "true when an existing file of that name got a new version"}
MAX_SINGLE_UPLOAD = 50 * 1024 * 1024  # one request; bigger files need chunked sessions
PAGE = 1000
WHAT = "Box"


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, "box")


def upload_base() -> str:
    return base_url("HOPFLOW_BOX_UPLOAD_URL", "https://upload.box.com")


def api_base() -> str:
    return base_url("HOPFLOW_BOX_API_URL", "https://api.box.com")


def box_path(rendered: Any) -> str:
    """The path under the credential's folder, without a leading '/'."""
    return base.remote_path(rendered, "/").lstrip("/")


def _json(response: Fetched) -> dict[str, Any]:
    try:
        answer = response.json()
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _code(response: Fetched) -> str:
    """Box's error code (item_name_in_use, unauthorized...), never its whole body."""
    return str(_json(response).get("code", ""))[:80]


def _conflict_id(response: Fetched) -> str | None:
    """The id of the item holding the name (409 item_name_in_use)."""
    conflicts = (_json(response).get("context_info") or {}).get("conflicts")
    if isinstance(conflicts, list):
        conflicts = conflicts[0] if conflicts else None
    if isinstance(conflicts, dict) and conflicts.get("id") is not None:
        return str(conflicts["id"])
    return None


class _Session:
    """The calls of one upload: the token, the shared deadline, the step log's request."""

    def __init__(self, token: str, deadline: Deadline, request: dict[str, Any]) -> None:
        self.auth = {"Authorization": f"Bearer {token}"}
        self.deadline = deadline
        self.request = request

    async def send(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                   content: bytes | None = None, ok: tuple[int, ...] = (200, 201),
                   passthrough: tuple[int, ...] = ()) -> Fetched:
        return await call(WHAT, method, url, deadline=self.deadline, request=self.request,
                          headers={**self.auth, **(headers or {})}, content=content, ok=ok,
                          detail=_code, passthrough=passthrough)

    async def folder(self, parent: str, folder_name: str) -> str:
        """The id of `folder_name` in `parent`, created when missing."""
        offset = 0
        while True:
            listing = _json(await self.send(
                "GET", f"{api_base()}/2.0/folders/{quote(parent)}/items"
                       f"?fields=id,type,name&limit={PAGE}&offset={offset}", ok=(200,)))
            entries = listing.get("entries") or []
            for entry in entries:
                if entry.get("type") == "folder" and entry.get("name") == folder_name:
                    return str(entry["id"])
            offset += len(entries)
            if not entries or offset >= int(listing.get("total_count") or 0):
                break
        created = await self.send(
            "POST", f"{api_base()}/2.0/folders", headers={"Content-Type": "application/json"},
            content=orjson.dumps({"name": folder_name, "parent": {"id": parent}}),
            ok=(201,), passthrough=(409,))
        if created.status_code == 409:  # a concurrent run made it meanwhile: use that one
            found = _conflict_id(created)
            if found is None:
                raise StepFailed(f"Box refused to create folder {folder_name!r}: "
                                 f"{_code(created) or 'conflict'}", request=self.request)
            return found
        return str(_json(created).get("id"))


def _file_id(answer: Fetched) -> str | None:
    entries = _json(answer).get("entries") or []
    return str(entries[0].get("id")) if entries and isinstance(entries[0], dict) else None


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, "box", name)
    path = box_path(config.get("path"))
    content = await base.content_of(config, ctx)
    if content.size > MAX_SINGLE_UPLOAD:
        raise StepFailed(f"the content is {content.size} bytes; Box takes at most "
                         f"{MAX_SINGLE_UPLOAD} in one upload")
    overwrite = config.get("overwrite", True)
    root = str(credential.get("folder_id") or "0")
    request = base.request_log(content, path, folder_id=root, overwrite=overwrite)
    session = _Session(str(credential["access_token"]),
                       Deadline(float(config.get("timeout", base.DEFAULT_TIMEOUT))), request)
    *folders, file_name = path.split("/")
    parent = root
    for folder_name in folders:
        parent = await session.folder(parent, folder_name)
    data = await content.read()
    attributes = orjson.dumps({"name": file_name, "parent": {"id": parent}})
    body, content_type = multipart([("attributes", None, "application/json", attributes),
                                    ("file", file_name, content.content_type, data)])
    answer = await session.send("POST", f"{upload_base()}/api/2.0/files/content",
                                headers={"Content-Type": content_type}, content=body,
                                ok=(201,), passthrough=(409,))
    new_version = False
    if answer.status_code == 409:
        existing = _conflict_id(answer)
        if not overwrite or existing is None:
            why = "overwrite is false" if overwrite is False else _code(answer)
            raise StepFailed(f"Box: {path!r} already exists ({why})", request=request)
        body, content_type = multipart([
            ("attributes", None, "application/json", orjson.dumps({"name": file_name})),
            ("file", file_name, content.content_type, data)])
        answer = await session.send(
            "POST", f"{upload_base()}/api/2.0/files/{quote(existing)}/content",
            headers={"Content-Type": content_type}, content=body, ok=(200, 201))
        new_version = True
    return Outcome(output=base.output(content, path, id=_file_id(answer),
                                      new_version=new_version), request=request)
