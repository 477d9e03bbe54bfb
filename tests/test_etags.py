"""ETags of polled run lists (api/etags.py): a 304 only for the same page of the same tenant."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from api import etags
from api.auth import Principal

EMPTY = b'{"data":[],"page":1,"limit":50,"offset":0,"total":0}'


def _get(path: str, tenant: str = "t1", etag: str | None = None) -> web.Request:
    request = make_mocked_request("GET", path, headers={"If-None-Match": etag} if etag else {})
    request["principal"] = Principal(tenant=tenant, role="member", actor="key:k")
    return request


def _answer(request: web.Request, body: bytes = EMPTY) -> web.Response:
    return etags.conditional(request, web.Response(body=body, content_type="application/json"))


def test_the_same_page_unchanged_is_a_304_and_a_changed_body_is_not() -> None:
    etag = _answer(_get("/api/workflows/runs?status=failed")).headers["ETag"]
    assert _answer(_get("/api/workflows/runs?status=failed", etag=etag)).status == 304
    changed = _answer(_get("/api/workflows/runs?status=failed", etag=etag), EMPTY + b" ")
    assert changed.status == 200 and changed.headers["ETag"] != etag


def test_another_filter_page_or_tenant_never_gets_a_304_for_an_equal_body() -> None:
    """Two empty lists are equal bodies: the console switching from status=failed to
    status=cancelled (or another tenant replaying an ETag) must still get its page."""
    etag = _answer(_get("/api/workflows/runs?status=failed")).headers["ETag"]
    for other in (_get("/api/workflows/runs?status=cancelled", etag=etag),
                  _get("/api/workflows/runs?status=failed&offset=50", etag=etag),
                  _get("/api/workflows/runs/pending?status=failed", etag=etag),
                  _get("/api/workflows/runs?status=failed", tenant="t2", etag=etag)):
        response = _answer(other)
        assert response.status == 200 and response.headers["ETag"] != etag, other.path_qs
