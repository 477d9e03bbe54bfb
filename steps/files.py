"""Files that steps read by reference: the store interface and its local-folder form.

A step never sees a worker's paths: the executor hands it a `FileStore` in
`ctx.extras["files"]`, and a workflow names a file by reference
(`{"fileId": "<uuid>"}`). Every call is scoped to a tenant, so another tenant's
file is simply "not found". File ids are UUIDs (checked), tenant ids are
checked against a strict pattern, so neither can walk out of the store.

The interface is async and streams: an upload is written chunk by chunk as it
arrives (never held whole), and an upload step reads chunk by chunk. The local
store keeps `<root>/<tenant>/<fileId>` plus a `<fileId>.json` sidecar; a shared
deployment uses the S3 form of the same interface.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CHUNK = 64 * 1024


class FileError(ValueError):
    """A file reference that cannot be served (permanent for a step)."""


class FileNotFound(FileError):
    """No such file for this tenant (a file of another tenant is not found either)."""


class FileTooLarge(FileError):
    """The file is over the size the caller accepts."""


class FileEmpty(FileError):
    """An upload with no bytes: nothing a workflow could read."""


@dataclass(frozen=True)
class FileRef:
    """What a workflow and a step know about a stored file (never where it lives)."""

    file_id: str
    name: str
    size: int
    content_type: str
    sha256: str
    created_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """The reference as workflows write it (`{"fileId": ...}` plus what it describes)."""
        return {"fileId": self.file_id, "name": self.name, "size": self.size,
                "contentType": self.content_type, "sha256": self.sha256}


InUse = Callable[[str, list[str]], Awaitable[set[str]]]


async def expirable(old: dict[str, list[str]], in_use: InUse | None) -> dict[str, list[str]]:
    """Per tenant, the old file ids nothing keeps (`in_use` asked once per tenant)."""
    if in_use is None:
        return old
    kept: dict[str, list[str]] = {}
    for tenant, ids in old.items():
        keep = await in_use(tenant, ids)
        kept[tenant] = [file_id for file_id in ids if file_id not in keep]
    return kept


class FileStore(Protocol):
    """Tenant-scoped file storage (local folder, S3)."""

    async def put_stream(self, tenant: str, chunks: AsyncIterable[bytes], *, name: str,
                         content_type: str | None = None, max_bytes: int | None = None
                         ) -> FileRef:
        """Store the chunks under a new id; FileTooLarge past max_bytes, FileEmpty if none.

        `content_type` None: sniffed from the first bytes (steps/sniff.py)."""
        ...

    async def stat(self, tenant: str, file_id: str) -> FileRef: ...

    def chunks(self, tenant: str, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes in order (FileNotFound raised on the first iteration)."""
        ...

    async def delete(self, tenant: str, file_id: str) -> bool: ...

    async def expire(self, before_ms: int, in_use: InUse | None = None) -> int:
        """Delete the files created before `before_ms` that `in_use` does not keep; how many.

        `in_use(tenant, file_ids)` answers which of them something still names (a run in
        history): those stay."""
        ...


async def put_bytes(store: FileStore, tenant: str, data: bytes, *, name: str,
                    content_type: str | None = None) -> FileRef:
    """Store bytes already in memory (tests, rendered content)."""
    async def one() -> AsyncIterator[bytes]:
        yield data
    return await store.put_stream(tenant, one(), name=name, content_type=content_type)


async def read_bytes(store: FileStore, tenant: str, file_id: str, *,
                     max_bytes: int | None = None) -> tuple[FileRef, bytes]:
    """The whole file, for steps that parse it; FileTooLarge past max_bytes."""
    ref = await store.stat(tenant, file_id)
    if max_bytes is not None and ref.size > max_bytes:
        raise FileTooLarge(f"file {file_id} is {ref.size} bytes; the cap is {max_bytes}")
    parts = [chunk async for chunk in store.chunks(tenant, file_id)]
    return ref, b"".join(parts)[: ref.size]


def check_file_id(file_id: Any) -> str:
    """The id in canonical UUID form, or FileError (nothing else reaches a path)."""
    if not isinstance(file_id, str):
        raise FileError(f"a file id must be a string (a UUID), not {type(file_id).__name__}")
    try:
        canonical = str(uuid.UUID(file_id))
    except ValueError:
        raise FileError(f"file id {file_id[:80]!r} is not a UUID") from None
    if canonical != file_id.lower():  # uuid.UUID also takes braces, urn: and no dashes
        raise FileError(f"file id {file_id[:80]!r} is not a UUID in canonical form")
    return canonical


def reference_id(value: Any) -> str:
    """The file id of a reference: `{"fileId": ...}` (or `file_id`), or a bare id."""
    if isinstance(value, dict):
        value = value.get("fileId", value.get("file_id"))
        if value is None:
            raise FileError("a file reference is an object with fileId")
    return check_file_id(value)


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise FileError(f"tenant id {str(tenant)[:80]!r} cannot own files")
    return tenant


def guess_type(head: bytes, name: str) -> str:
    """Content type from the first bytes, else the name (steps/sniff.py may refine)."""
    try:
        from steps.sniff import content_type
    except ImportError:  # pragma: no cover - the sniffer is optional
        return mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
    return content_type(head, name)


def now_ms() -> int:
    return int(time.time() * 1000)


class _Writer:
    """Chunks to a temporary file beside the target, hashed and counted as they come."""

    def __init__(self, folder: Path, max_bytes: int | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.max_bytes = max_bytes

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise FileTooLarge(f"the file is over {self.max_bytes} bytes")
        if len(self.head) < 4096:
            self.head += chunk[: 4096 - len(self.head)]
        self.digest.update(chunk)
        self.handle.write(chunk)

    def discard(self) -> None:
        self.handle.close()
        Path(self.tmp).unlink(missing_ok=True)


class LocalFileStore:
    """Files under `<root>/<tenant>/<fileId>`, each with a `<fileId>.json` metadata sidecar.

    Bytes go to a temporary file then rename, and the sidecar is written last, so a
    reader never sees half a file. Blocking file calls run in a thread past 64 KB.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _paths(self, tenant: str, file_id: str) -> tuple[Path, Path]:
        folder = self.root / check_tenant(tenant)
        fid = check_file_id(file_id)
        return folder / fid, folder / f"{fid}.json"

    async def put_stream(self, tenant: str, chunks: AsyncIterable[bytes], *, name: str,
                         content_type: str | None = None, max_bytes: int | None = None
                         ) -> FileRef:
        file_id = str(uuid.uuid4())
        body, meta = self._paths(tenant, file_id)
        writer = _Writer(body.parent, max_bytes)
        try:
            async for chunk in chunks:
                if len(chunk) > CHUNK:
                    await asyncio.to_thread(writer.write, chunk)
                else:
                    writer.write(chunk)
            writer.handle.close()
            if writer.size == 0:
                raise FileEmpty("the file is empty")
            os.replace(writer.tmp, body)
        except BaseException:
            writer.discard()
            raise
        ref = FileRef(file_id, str(name)[:255], writer.size,
                      content_type or guess_type(writer.head, name),
                      writer.digest.hexdigest(), now_ms())
        _write_atomic(meta, orjson.dumps(asdict(ref)))  # the sidecar last: it marks "complete"
        return ref

    async def stat(self, tenant: str, file_id: str) -> FileRef:
        _, meta = self._paths(tenant, file_id)
        try:
            fields = orjson.loads(meta.read_bytes())
        except FileNotFoundError:
            raise FileNotFound(f"file {file_id} not found") from None
        return FileRef(**fields)

    async def chunks(self, tenant: str, file_id: str) -> AsyncIterator[bytes]:
        await self.stat(tenant, file_id)
        body, _ = self._paths(tenant, file_id)
        try:
            handle = body.open("rb")
        except FileNotFoundError:
            raise FileNotFound(f"file {file_id} not found") from None
        with handle:
            while chunk := await asyncio.to_thread(handle.read, 1024 * 1024):
                yield chunk

    async def delete(self, tenant: str, file_id: str) -> bool:
        body, meta = self._paths(tenant, file_id)
        existed = meta.exists()
        meta.unlink(missing_ok=True)  # the sidecar first: the file is gone for readers
        body.unlink(missing_ok=True)
        return existed

    async def expire(self, before_ms: int, in_use: InUse | None = None) -> int:
        old = await asyncio.to_thread(self._older_than, before_ms)
        doomed = await expirable(old, in_use)
        return await asyncio.to_thread(self._remove, doomed)

    def _older_than(self, before_ms: int) -> dict[str, list[str]]:
        """Per tenant folder, the ids of files created before the cut-off (and stale temps)."""
        old: dict[str, list[str]] = {}
        if not self.root.is_dir():
            return old
        for folder in self.root.iterdir():
            if not folder.is_dir() or not _TENANT.match(folder.name):
                continue
            for meta in folder.glob("*.json"):
                try:
                    created = int(orjson.loads(meta.read_bytes()).get("created_ms") or 0)
                except (OSError, orjson.JSONDecodeError):
                    continue
                if created == 0:  # written before created_ms existed: the sidecar's mtime
                    created = int(meta.stat().st_mtime * 1000)
                if created < before_ms:
                    old.setdefault(folder.name, []).append(meta.stem)
            for tmp in folder.glob(".tmp-*"):  # a writer that died mid-upload
                if tmp.stat().st_mtime * 1000 < before_ms:
                    tmp.unlink(missing_ok=True)
        return old

    def _remove(self, doomed: dict[str, list[str]]) -> int:
        removed = 0
        for tenant, ids in doomed.items():
            for file_id in ids:
                body, meta = self._paths(tenant, file_id)
                meta.unlink(missing_ok=True)  # the sidecar first: gone for readers
                body.unlink(missing_ok=True)
                removed += 1
        return removed


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
