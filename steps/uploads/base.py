"""What every upload action shares: its config, its content, its remote path, its failures.

An upload step (reference 004 ActionTypes 6-8, 12-14) sends one file to a remote
store. Its content is a stored file by reference (`file`/`file_id`, streamed
from the tenant's file store) or text rendered from a template (`content`, e.g.
a CSV of step outputs) or bytes (`content_base64`). Its remote path is a
template rendered at run time, then checked here: no `..` segment, no control
character, and inside the credential's base folder/prefix. Each protocol
module writes under a temporary name and renames it to the final one where the
protocol allows, so no half-written file ever carries the final name.

Failures: a refusal that will repeat (authentication, permission, a bad path)
is permanent; a lost connection, a timeout or a 5xx is transient and retried
with the engine's backoff.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from steps.base import ExecContext, Issue, StepFailed, timeout_issues
from steps.files import FileError, read_bytes, reference_id
from steps.templates import template_issues

SOURCES = ("file", "file_id", "content", "content_base64")
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 600.0
MAX_PATH = 1024
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # a stored file; rendered content is capped at 256 KB
TEXT_TYPE = "text/plain; charset=utf-8"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

CONFIG: dict[str, str] = {
    "credential_id": "string: the credential of the remote store (its type names the action)",
    "path": "string: the remote path and file name, templated (e.g. "
            "\"reports/{{run.id}}.csv\"); relative to the credential's base folder or prefix; "
            "an absolute path must stay inside that base; no '..'",
    "file": "object: a stored file's reference {\"fileId\": ...}, usually \"{{input.file}}\" "
            "(one content source of: file, file_id, content, content_base64)",
    "file_id": "string: a stored file's id (a UUID)",
    "content": "string: the content as text, templated (e.g. a CSV built from step outputs "
               "with {% for %}); sent as UTF-8",
    "content_base64": "string: the content's bytes, base64",
    "content_type": "string: the content type sent where the store keeps one (default: the "
                    "stored file's, or text/plain for content)",
    "overwrite": "boolean: replace a remote file of the same name (default true; false "
                 "fails the step when it exists, where the protocol can tell)",
    "timeout": f"number: seconds for the whole upload, (0, {MAX_TIMEOUT:g}] "
               f"(default {DEFAULT_TIMEOUT:g})",
}
OUTPUT: dict[str, str] = {
    "uploaded": "true once the remote store holds the file under its final name",
    "path": "the final remote path (base folder or prefix included)",
    "size": "bytes uploaded",
    "sha256": "the content's SHA-256, hex",
    "content_type": "the content type sent",
}


def validate(config: dict[str, Any], where: str, credential_types: str) -> list[Issue]:
    """The shared rules; `credential_types` names what credential_id must be (for messages)."""
    issues: list[Issue] = []
    if not isinstance(config.get("credential_id"), str) or not config["credential_id"]:
        issues.append(Issue(f"{where}.credential_id", f"is required (a {credential_types} "
                                                      "credential)"))
    given = [key for key in SOURCES if key in config]
    if len(given) != 1:
        issues.append(Issue(f"{where}.file", "give exactly one content source: file (a "
                                             "{\"fileId\": ...} reference or template), "
                                             "file_id, content or content_base64"))
    path = config.get("path")
    if not isinstance(path, str) or not path.strip():
        issues.append(Issue(f"{where}.path", "is required (the remote path and file name)"))
    elif "{{" not in path and "{%" not in path:
        try:
            remote_path(path, "")
        except StepFailed as exc:
            issues.append(Issue(f"{where}.path", str(exc)))
    for key in ("content", "content_type"):
        if key in config and not isinstance(config[key], str):
            issues.append(Issue(f"{where}.{key}", "must be a string"))
    if "overwrite" in config and not isinstance(config["overwrite"], bool):
        issues.append(Issue(f"{where}.overwrite", "must be true or false"))
    issues += timeout_issues(config, where, DEFAULT_TIMEOUT, MAX_TIMEOUT)
    issues += template_issues(config, where)
    return issues


def remote_path(rendered: Any, base: str | None) -> str:
    """The final path: `rendered` inside `base`, normalised; StepFailed naming `path` if not.

    `base` "" or None: the login's own view (a relative path stays relative). A
    path with a `..` segment is refused outright, even one that would stay inside."""
    if not isinstance(rendered, str) or not rendered.strip():
        raise StepFailed("path rendered empty: no remote file name")
    if len(rendered) > MAX_PATH:
        raise StepFailed(f"path is over {MAX_PATH} characters")
    if _CONTROL.search(rendered) or "\\" in rendered:
        raise StepFailed("path must not contain control characters or backslashes")
    segments = rendered.split("/")
    if ".." in segments:
        raise StepFailed(f"path {rendered[:200]!r} contains '..'")
    if rendered.endswith("/") or segments[-1] in ("", "."):
        raise StepFailed(f"path {rendered[:200]!r} names a folder, not a file")
    clean_base = posixpath.normpath(base) if base else ""
    if clean_base == ".":
        clean_base = ""
    if rendered.startswith("/"):
        final = posixpath.normpath(rendered)
        if clean_base and not _inside(final, clean_base):
            raise StepFailed(f"path {rendered[:200]!r} is outside the credential's base "
                             f"{clean_base!r}")
        return final
    joined = posixpath.join(clean_base, rendered) if clean_base else rendered
    return posixpath.normpath(joined)


def _inside(path: str, base: str) -> bool:
    base = base.rstrip("/") or "/"
    return base == "/" or path == base or path.startswith(base + "/")


def temp_path(final: str, ctx: ExecContext) -> str:
    """A sibling of `final` no reader takes for it: `.<name>.<attempt-unique>.part`."""
    folder, name = posixpath.split(final)
    unique = uuid.uuid5(uuid.NAMESPACE_URL, ctx.idempotency_key).hex[:12]
    return posixpath.join(folder, f".{name}.{unique}.part")


@dataclass
class Content:
    """The bytes to upload: streamed from the file store, or held (rendered text, base64)."""

    size: int
    sha256: str
    content_type: str
    name: str
    source: dict[str, Any]
    data: bytes | None = None
    _stream: Any = field(default=None, repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        async for chunk in self._stream():
            yield chunk

    async def read(self) -> bytes:
        """The whole content (for APIs that take one body); capped at MAX_UPLOAD_BYTES."""
        if self.data is not None:
            return self.data
        return b"".join([chunk async for chunk in self.chunks()])


async def content_of(config: dict[str, Any], ctx: ExecContext) -> Content:
    """The rendered config's content source, read or opened; StepFailed naming what is wrong."""
    explicit = config.get("content_type")
    if "content" in config:
        data = str(config["content"]).encode()
        return _held(data, explicit or TEXT_TYPE, {"kind": "content"})
    if "content_base64" in config:
        try:
            data = base64.b64decode(str(config["content_base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise StepFailed("content_base64 is not base64") from None
        return _held(data, explicit or "application/octet-stream", {"kind": "content_base64"})
    ref = config.get("file", config.get("file_id"))
    if ref in (None, ""):
        raise StepFailed("no file to upload: the file reference is empty (is the input's "
                         "file missing?)")
    store = ctx.extras.get("files")
    if store is None:
        raise StepFailed("this worker has no file store")
    try:
        file_id = reference_id(ref)
        meta = await store.stat(ctx.tenant, file_id)
    except FileError as exc:
        raise StepFailed(str(exc), request={"file": ref}) from None
    if meta.size > MAX_UPLOAD_BYTES:
        raise StepFailed(f"file {file_id} is {meta.size} bytes; uploads are capped at "
                         f"{MAX_UPLOAD_BYTES}")

    def stream() -> AsyncIterator[bytes]:
        return store.chunks(ctx.tenant, file_id)

    content = Content(meta.size, meta.sha256, explicit or meta.content_type, meta.name,
                      {"kind": "file", "fileId": file_id, "name": meta.name}, _stream=stream)
    if meta.size <= 1024 * 1024:  # small: read once, so a retry inside a protocol is cheap
        try:
            _, content.data = await read_bytes(store, ctx.tenant, file_id)
        except FileError as exc:
            raise StepFailed(str(exc), request={"file": ref}) from None
    return content


def _held(data: bytes, content_type: str, source: dict[str, Any]) -> Content:
    if not data:
        raise StepFailed("the content rendered empty: nothing to upload")
    return Content(len(data), hashlib.sha256(data).hexdigest(), content_type, "", source,
                   data=data)


def credential_of(ctx: ExecContext, type_name: str, step: str) -> dict[str, Any]:
    """The step's decrypted credential, which must be of `type_name` (004's type)."""
    credential = ctx.extras.get("credential")
    if not credential or credential.get("type") != type_name:
        raise StepFailed(f"an {step} step needs a {type_name} credential (credential_id)")
    return credential


def request_log(content: Content, path: str, **extra: Any) -> dict[str, Any]:
    """What the step log shows of the upload (never a credential field)."""
    return {"path": path, "size": content.size, "sha256": content.sha256,
            "content_type": content.content_type, "source": content.source, **extra}


def output(content: Content, path: str, **extra: Any) -> dict[str, Any]:
    return {"uploaded": True, "path": path, "size": content.size, "sha256": content.sha256,
            "content_type": content.content_type, **extra}
