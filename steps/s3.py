"""A small S3 client: the five object calls hopflow needs, over httpx, signed with SigV4.

Used by the `upload_s3` step (through the outbound guard's client, since a
tenant's credential names the endpoint) and by the S3 file store (through a
plain client: the operator chose that endpoint). The caller hands in the
httpx client, so which guard applies is decided in one place each.

- Addressing: path-style (`<endpoint>/<bucket>/<key>`) for a custom
  `endpoint_url` (MinIO, moto, Ceph...), virtual-hosted
  (`https://<bucket>.s3.<region>.amazonaws.com/<key>`) for AWS; a bucket with
  a dot goes path-style on AWS too, or its TLS name would not match.
- Signing: botocore's `S3SigV4Auth` on an `AWSRequest` (the reference
  implementation; we send with httpx, botocore only computes the headers).
  The payload hash is the content's sha256, known before sending (a stored
  file carries it), so a body streams without being read twice.
- PutObject is atomic: S3 makes an object visible whole or not at all, so
  unlike FTP/SFTP no temporary key and rename are needed.
- Errors: any answer >= 400 raises `S3Error` with S3's error code (from the
  XML body; HEAD answers have none, so the status names it).
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_ERROR_BODY = 64 * 1024
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_STATUS_CODES = {301: "PermanentRedirect", 400: "BadRequest", 403: "AccessDenied",
                 404: "NotFound", 412: "PreconditionFailed"}


class S3Error(Exception):
    """S3 answered >= 400. `code` is S3's error code (NoSuchBucket, SignatureDoesNotMatch...)."""

    def __init__(self, status: int, code: str, headers: httpx.Headers | None = None) -> None:
        super().__init__(f"S3 answered HTTP {status} {code}")
        self.status = status
        self.code = code
        self.headers = headers or httpx.Headers()


class _Signer(S3SigV4Auth):
    """S3SigV4Auth with the payload hash the caller already knows (no second read)."""

    def payload(self, request: AWSRequest) -> str:
        known = request.context.get("payload_sha256")
        return known if known else super().payload(request)


@dataclass(frozen=True)
class Target:
    """Where and as whom: one bucket at one endpoint."""

    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    endpoint_url: str | None = None

    def base_and_path(self) -> tuple[str, str]:
        """The URL's origin and the path prefix that comes before a key."""
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/"), f"/{self.bucket}/"
        if "." in self.bucket:
            return f"https://s3.{self.region}.amazonaws.com", f"/{self.bucket}/"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com", "/"


@dataclass(frozen=True)
class ObjectInfo:
    """A listed object: its key and when it was written (ms since the epoch)."""

    key: str
    modified_ms: int
    size: int


class S3Client:
    """Object calls on one bucket through the given httpx client."""

    def __init__(self, target: Target, client: httpx.AsyncClient, *,
                 timeout: float = 60.0) -> None:
        self.target = target
        self.client = client
        self.timeout = timeout
        self._signer = _Signer(Credentials(target.access_key_id, target.secret_access_key),
                               "s3", target.region)

    def url(self, key: str = "", query: dict[str, str] | None = None) -> str:
        base, path = self.target.base_and_path()
        if not key and path != "/":
            path = path.rstrip("/")  # the bucket itself: /bucket, not /bucket/
        url = base + path + quote(key, safe="/~")
        if query:
            url += "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                                  for k, v in sorted(query.items()))
        return url

    def _signed(self, method: str, url: str, headers: dict[str, str],
                payload_sha256: str) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, headers=headers, data=b"")
        request.context["payload_sha256"] = payload_sha256
        self._signer.add_auth(request)
        return dict(request.headers.items())

    async def send(self, method: str, key: str = "", *, query: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None,
                   content: bytes | AsyncIterable[bytes] | None = None,
                   sha256: str | None = None, stream: bool = False) -> httpx.Response:
        """One signed exchange; S3Error for >= 400 (the body read and closed then)."""
        url = self.url(key, query)
        if isinstance(content, bytes):
            sha256 = sha256 or hashlib.sha256(content).hexdigest()
        signed = self._signed(method, url, dict(headers or {}), sha256 or EMPTY_SHA256)
        request = self.client.build_request(method, url, headers=signed, content=content,
                                            timeout=self.timeout)
        response = await self.client.send(request, stream=True)
        if response.status_code >= 400:
            try:
                body = b""
                if method != "HEAD":
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_ERROR_BODY:
                            break
            finally:
                await response.aclose()
            raise S3Error(response.status_code, error_code(response.status_code, body),
                          response.headers)
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def put_object(self, key: str, content: bytes | AsyncIterable[bytes], *, size: int,
                         sha256: str, content_type: str,
                         metadata: dict[str, str] | None = None,
                         if_none_match: bool = False) -> str:
        """Store the object whole (atomic); its ETag. 412 PreconditionFailed if it exists
        and `if_none_match`."""
        headers = {"content-type": content_type, "content-length": str(size)}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        if if_none_match:
            headers["if-none-match"] = "*"
        response = await self.send("PUT", key, headers=headers, content=content, sha256=sha256)
        return response.headers.get("etag", "").strip('"')

    async def head_object(self, key: str) -> httpx.Headers | None:
        """The object's headers (x-amz-meta-* included), or None when there is none."""
        try:
            response = await self.send("HEAD", key)
        except S3Error as exc:
            if exc.status == 404:
                return None
            raise
        return response.headers

    async def get_object(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes as they arrive; S3Error (404 NoSuchKey) on the first step."""
        response = await self.send("GET", key, stream=True)
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    async def delete_object(self, key: str) -> None:
        await self.send("DELETE", key)

    async def delete_objects(self, keys: list[str]) -> None:
        """DeleteObjects in batches of 1000 (S3's limit), quiet mode."""
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            root = ET.Element("Delete")
            ET.SubElement(root, "Quiet").text = "true"
            for key in batch:
                ET.SubElement(ET.SubElement(root, "Object"), "Key").text = key
            body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # S3 requires it
            await self.send("POST", "", query={"delete": ""}, content=body,
                            headers={"content-md5": md5, "content-type": "application/xml",
                                     "content-length": str(len(body))})

    async def list_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under `prefix` (ListObjectsV2, page by page)."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            response = await self.send("GET", "", query=query)
            root = ET.fromstring(response.content)
            for item in _children(root, "Contents"):
                yield ObjectInfo(_text(item, "Key"), _ms(_text(item, "LastModified")),
                                 int(_text(item, "Size") or 0))
            if _text(root, "IsTruncated") != "true":
                return
            token = _text(root, "NextContinuationToken")
            if not token:
                return

    async def head_bucket(self) -> None:
        await self.send("HEAD", "")

    async def create_bucket(self) -> None:
        body = b""
        if self.target.region != "us-east-1":
            body = (f'<CreateBucketConfiguration xmlns="{_NS[1:-1]}"><LocationConstraint>'
                    f"{self.target.region}</LocationConstraint></CreateBucketConfiguration>"
                    ).encode()
        await self.send("PUT", "", content=body, headers={"content-length": str(len(body))})


def error_code(status: int, body: bytes) -> str:
    """S3's `<Error><Code>` when the body has one, else a name for the status."""
    if body:
        try:
            root = ET.fromstring(body)
            code = root.findtext("Code") or root.findtext(f"{_NS}Code")
            if code:
                return code[:100]
        except ET.ParseError:
            pass
    return _STATUS_CODES.get(status, f"HTTP{status}")


def _children(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(tag) + root.findall(f"{_NS}{tag}")


def _text(node: ET.Element, tag: str) -> str:
    found = node.find(tag)
    if found is None:
        found = node.find(f"{_NS}{tag}")
    return (found.text or "") if found is not None else ""


def _ms(stamp: str) -> int:
    if not stamp:
        return 0
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def meta_encode(value: str) -> str:
    """A metadata value as S3 keeps it (ASCII headers): percent-encoded UTF-8."""
    return quote(value, safe=" -_.~()!*'")


def meta_headers(headers: httpx.Headers) -> dict[str, Any]:
    """The x-amz-meta-* headers of an answer, names without the prefix."""
    return {name[len("x-amz-meta-"):]: value for name, value in headers.items()
            if name.lower().startswith("x-amz-meta-")}
