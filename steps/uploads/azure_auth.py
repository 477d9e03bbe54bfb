"""Azure Storage Shared Key authorisation, written out (about 30 lines) instead of the SDK.

The official `azure-storage-blob` SDK brings its own HTTP pipeline (aiohttp or
requests), which would bypass the guarded client (steps/http.py) and its
private-address rules; the signature itself is small and specified at
https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key.
It is tested against a published vector and against Azurite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from email.utils import formatdate

API_VERSION = "2023-11-03"
# the standard headers signed, in this order, before the x-ms-* headers and the resource
_STANDARD = ("content-encoding", "content-language", "content-length", "content-md5",
             "content-type", "date", "if-modified-since", "if-match", "if-none-match",
             "if-unmodified-since", "range")


def stamp() -> str:
    """Now as an RFC 1123 date (the x-ms-date header)."""
    return formatdate(usegmt=True)


def string_to_sign(account: str, method: str, url_path: str, query: Mapping[str, str],
                   headers: Mapping[str, str], length: int) -> str:
    """The canonical request of the Blob service (version 2015-02-21 and later).

    `url_path` is the request's path as sent (percent-encoded, the account's segment
    included for a path-style endpoint such as Azurite's); `query` holds the decoded
    parameters (the SAS is never combined with Shared Key)."""
    lower = {k.lower(): str(v) for k, v in headers.items()}
    lower["content-length"] = str(length) if length else ""  # 0 is signed as empty
    standard = [lower.get(name, "") for name in _STANDARD]
    ms = sorted((k, v.strip()) for k, v in lower.items() if k.startswith("x-ms-"))
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in ms)
    resource = f"/{account}{url_path}"
    for key in sorted(query, key=str.lower):
        resource += f"\n{key.lower()}:{query[key]}"
    return "\n".join([method.upper(), *standard]) + "\n" + canonical_headers + resource


def shared_key(account: str, key_b64: str, method: str, url_path: str,
               query: Mapping[str, str], headers: Mapping[str, str], length: int) -> str:
    """The Authorization header value: `SharedKey account:signature`."""
    text = string_to_sign(account, method, url_path, query, headers, length)
    digest = hmac.new(base64.b64decode(key_b64), text.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"
