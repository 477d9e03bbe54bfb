"""upload_s3: put a stored file or rendered content into an S3 bucket (004 ActionType 8).

The credential (type s3) names the bucket, region, keys, an optional
`endpoint_url` (an S3-compatible server) and `prefix`; the object key is the
rendered `path` inside that prefix. Every connection goes through the outbound
guard's client, so an endpoint_url on a private address or the metadata
service is refused (permanent). PutObject is atomic: no temporary key.

Failures: S3's refusals that will repeat (NoSuchBucket, AccessDenied,
InvalidAccessKeyId, SignatureDoesNotMatch, any other 4xx) are permanent and the
message names S3's error code (never a key); 5xx, timeouts and lost
connections are transient.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from steps.base import ExecContext, Issue, Outcome, StepFailed
from steps.errors import classify_http_status, request_failure
from steps.http import BlockedURL, check_url, guarded_client
from steps.s3 import S3Client, S3Error, Target
from steps.uploads import base

name = "upload_s3"
kind = "io"
CREDENTIAL_TYPE = "s3"

TITLE = "Upload a stored file or rendered content to an S3 bucket (or S3-compatible server)"
CONFIG: dict[str, str] = {
    **base.CONFIG,
    "credential_id": "string, required: an s3 credential (bucket, region, keys, optional "
                     "endpoint_url and prefix)",
    "path": base.CONFIG["path"].replace("base folder or prefix", "prefix"),
    "overwrite": "boolean: replace an object of the same key (default true; false fails the "
                 "step when it exists)",
}
OUTPUT: dict[str, str] = {
    **base.OUTPUT,
    "path": "the object key (the credential's prefix included)",
    "bucket": "the bucket",
    "key": "the object key",
    "etag": "the ETag S3 gave the object",
}


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    return base.validate(config, where, CREDENTIAL_TYPE)


def object_key(rendered: Any, prefix: str | None) -> str:
    """The key: the path inside the prefix, without a leading '/' (S3 keys have none)."""
    clean = (prefix or "").strip("/")
    final = base.remote_path(rendered, f"/{clean}" if clean else None)
    return final.lstrip("/")


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    credential = base.credential_of(ctx, CREDENTIAL_TYPE, name)
    key = object_key(config.get("path"), credential.get("prefix"))
    content = await base.content_of(config, ctx)
    bucket = str(credential.get("bucket", ""))
    request = base.request_log(content, key, bucket=bucket)
    endpoint = credential.get("endpoint_url") or None
    target = Target(bucket, str(credential.get("region") or "us-east-1"),
                    str(credential.get("access_key_id", "")),
                    str(credential.get("secret_access_key", "")), endpoint)
    timeout = float(config.get("timeout", base.DEFAULT_TIMEOUT))
    s3 = S3Client(target, guarded_client(), timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            etag = await _put(s3, key, content, config, bucket, request)
    except TimeoutError:
        raise StepFailed(f"timed out uploading to S3 after {timeout:g}s", retryable=True,
                         request=request) from None
    return Outcome(output=base.output(content, key, bucket=bucket, key=key, etag=etag),
                   request=request)


async def _put(s3: S3Client, key: str, content: base.Content, config: dict[str, Any],
               bucket: str, request: dict[str, Any]) -> str:
    try:
        check_url(s3.url(key))
        if config.get("overwrite") is False and await s3.head_object(key) is not None:
            raise StepFailed(f"object {key[:200]!r} already exists in bucket {bucket!r} "
                             "(overwrite is false)", request=request)
        body = content.data if content.data is not None else content.chunks()
        return await s3.put_object(key, body, size=content.size, sha256=content.sha256,
                                   content_type=content.content_type,
                                   if_none_match=config.get("overwrite") is False)
    except S3Error as exc:
        raise _s3_failure(exc, bucket, request) from None
    except (BlockedURL, httpx.HTTPError) as exc:
        raise request_failure("the S3 endpoint", exc, request=request) from None


def _s3_failure(exc: S3Error, bucket: str, request: dict[str, Any]) -> StepFailed:
    """S3's answer as a step failure: its code, permanent unless S3 may answer otherwise."""
    if exc.status == 412:
        return StepFailed(f"the object already exists in bucket {bucket!r} (overwrite is "
                          "false)", request=request)
    verdict = classify_http_status(exc.status, exc.headers)
    wait = "" if verdict.retry_after is None else f" (Retry-After {verdict.retry_after:g}s)"
    return StepFailed(f"S3 refused the upload to bucket {bucket!r}: HTTP {exc.status} "
                      f"{exc.code}{wait}", retryable=verdict.retryable,
                      retry_after=verdict.retry_after, request=request)
