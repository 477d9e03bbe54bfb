"""upload_azure_blob: put a file into an Azure Blob Storage container (reference 004 ActionType 12).

The Blob service REST API over the guarded client: one Put Blob (BlockBlob) up
to 4 MB, Put Block per 4 MB + Put Block List above, so a large stored file is
streamed block by block instead of held whole. A blob exists only once it is
committed (Put Blob, or Put Block List): uncommitted blocks are invisible and
expire, so no temporary name is needed and no reader ever sees half a blob.

Authorised by the credential's SAS token (appended to the query) or Shared Key
(HMAC-SHA256 of the canonical request, steps/uploads/azure_auth.py). The
endpoint is `https://{account}.blob.core.windows.net` or the credential's
`endpoint_url` (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
`overwrite: false` sends `If-None-Match: *`, and an existing blob fails the
step for good.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

from steps.base import ExecContext, Issue, Outcome
from steps.http import Fetched
from steps.uploads import base
from steps.uploads.azure_auth import API_VERSION, shared_key, stamp
from steps.uploads.web import Deadline, call

name = "upload_azure_blob"
kind = "io"
TITLE = "Upload a file to Azure Blob Storage"
CONFIG = base.CONFIG
OUTPUT = {**base.OUTPUT, "url": "the blob's URL (without any SAS token)",
          "etag": "the blob's ETag"}
BLOCK_SIZE = 4 * 1024 * 1024  # one Put Blob up to this; blocks of this size above
WHAT = "Azure Blob Storage"
_CODE = re.compile(rb"<Code>([A-Za-z0-9]{1,80})</Code>")


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, "azure_blob")


def endpoint(credential: dict[str, Any]) -> str:
    given = str(credential.get("endpoint_url") or "").strip().rstrip("/")
    return given or f"https://{credential['account_name']}.blob.core.windows.net"


def blob_name(rendered: Any) -> str:
    return base.remote_path(rendered, None).lstrip("/")


def _error_code(response: Fetched) -> str:
    """Azure's error code (BlobAlreadyExists, AuthenticationFailed...): never the message,
    which for a bad signature quotes the string that was signed."""
    found = _CODE.search(response.content[:4096])
    return found.group(1).decode() if found else response.headers.get("x-ms-error-code", "")


class _Blob:
    """One blob's URL and how to authorise a request to it."""

    def __init__(self, credential: dict[str, Any], name_: str) -> None:
        self.credential = credential
        self.path = f"/{credential['container']}/{quote(name_, safe='/')}"
        root = endpoint(credential)
        self.url = root + self.path
        self.url_path = urlsplit(root).path.rstrip("/") + self.path  # what Shared Key signs
        self.sas = str(credential.get("sas_token") or "").lstrip("?")

    def request(self, method: str, query: dict[str, str], headers: dict[str, str],
                length: int) -> tuple[str, dict[str, str]]:
        """The URL (SAS appended when that is the credential) and the signed headers."""
        headers = {**headers, "x-ms-version": API_VERSION, "x-ms-date": stamp()}
        pairs = [f"{k}={quote(v, safe='')}" for k, v in query.items()]
        if self.sas:
            pairs.insert(0, self.sas)
        url = self.url + ("?" + "&".join(pairs) if pairs else "")
        if not self.sas:
            headers["Authorization"] = shared_key(
                str(self.credential["account_name"]), str(self.credential["account_key"]),
                method, self.url_path, query, headers, length)
        return url, headers


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, "azure_blob", name)
    blob = blob_name(config.get("path"))
    content = await base.content_of(config, ctx)
    target = _Blob(credential, blob)
    overwrite = config.get("overwrite", True)
    request = base.request_log(content, blob, container=credential["container"],
                               url=target.url, overwrite=overwrite)
    deadline = Deadline(float(config.get("timeout", base.DEFAULT_TIMEOUT)))
    condition = {} if overwrite else {"If-None-Match": "*"}

    def detail(response: Fetched) -> str:
        code = _error_code(response)
        if not overwrite and (response.status_code == 412 or code == "BlobAlreadyExists"):
            return f"blob {blob!r} already exists (overwrite is false)"
        return code

    if content.size <= BLOCK_SIZE:
        data = await content.read()
        url, headers = target.request("PUT", {}, {
            **condition, "x-ms-blob-type": "BlockBlob", "Content-Type": content.content_type,
            "Content-Length": str(len(data))}, len(data))
        answer = await call(WHAT, "PUT", url, deadline=deadline, request=request,
                            headers=headers, content=data, ok=(201,), detail=detail)
    else:
        ids: list[str] = []
        # 32 letters and digits are already valid base64 (24 bytes, no '=', '+' or '/'),
        # so the id needs no URL-encoding: Azurite signs the query as sent, Azure decoded
        prefix = uuid.uuid5(uuid.NAMESPACE_URL, ctx.idempotency_key).hex[:16]
        async for block in _blocks(content.chunks(), BLOCK_SIZE):
            block_id = f"{prefix}{len(ids):016d}"
            url, headers = target.request("PUT", {"blockid": block_id, "comp": "block"},
                                          {"Content-Length": str(len(block)),
                                           # explicit: the client would add it unsigned
                                           "Content-Type": "application/octet-stream"},
                                          len(block))
            await call(WHAT, "PUT", url, deadline=deadline, request=request, headers=headers,
                       content=block, ok=(201,), detail=detail)
            ids.append(block_id)
        body = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
                + "".join(f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>").encode()
        url, headers = target.request("PUT", {"comp": "blocklist"}, {
            **condition, "x-ms-blob-content-type": content.content_type,
            "Content-Type": "application/xml", "Content-Length": str(len(body))}, len(body))
        answer = await call(WHAT, "PUT", url, deadline=deadline, request=request,
                            headers=headers, content=body, ok=(201,), detail=detail)
        request["blocks"] = len(ids)
    return Outcome(output=base.output(content, blob, url=target.url,
                                      etag=answer.headers.get("etag", "")),
                   request=request)


async def _blocks(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The stream regrouped into blocks of `size` bytes (the last one shorter)."""
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)
