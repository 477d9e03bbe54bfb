"""Test clients authenticate like real ones: an owner API key per (deployment, tenant).

Tests name their tenant with `x-tenant-id` as before; `KeyAuth` makes that
tenant's key on first use (through the operator path, `streams.control.client`,
as `hopflow keys create` does) on an unlimited plan, and signs every request
with it. A request that sets `x-api-key` or `authorization` itself, or
`x-test-no-auth: 1`, is sent as it is, so auth tests see the raw behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import httpx

from api.auth import new_key
from streams.control import client

NO_AUTH = "x-test-no-auth"


class KeyAuth(httpx.Auth):
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._apps: dict[int, str] = {}  # worker port -> deployment (app id)
        self._keys: dict[tuple[str, str, str], str] = {}
        self._lock = asyncio.Lock()

    async def app_of(self, base: str, port: int, fresh: bool = False) -> str:
        if fresh or port not in self._apps:
            async with httpx.AsyncClient(timeout=10) as plain:
                self._apps[port] = (await plain.get(f"{base}/healthz")).json()["app"]
        return self._apps[port]

    async def key(self, base: str, port: int, tenant: str, *, role: str = "owner",
                  plan: str | None = "unlimited", fresh: bool = False) -> str:
        app_id = await self.app_of(base, port, fresh)
        async with self._lock:
            if (app_id, tenant, role) not in self._keys:
                self._keys[(app_id, tenant, role)] = await make_key(
                    self.bootstrap, app_id, base, tenant, role=role, plan=plan)
            return self._keys[(app_id, tenant, role)]

    async def async_auth_flow(self, request: httpx.Request
                              ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if request.headers.pop(NO_AUTH, None) or "x-api-key" in request.headers or \
                "authorization" in request.headers or request.url.path in ("/healthz",
                                                                           "/metrics"):
            yield request
            return
        tenant = request.headers.setdefault("x-tenant-id", "default")
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        port = request.url.port or 80
        request.headers["x-api-key"] = await self.key(base, port, tenant)
        response = yield request
        if response.status_code == 401:  # the port now serves another deployment
            request.headers["x-api-key"] = await self.key(base, port, tenant, fresh=True)
            yield request


async def make_key(bootstrap: str, app_id: str, base: str, tenant: str, *,
                   role: str = "owner", plan: str | None = "unlimited") -> str:
    """Create a key as the operator would, and wait until the worker at `base` accepts it."""
    key_id, key, digest = new_key()
    if plan is not None:
        await client.send_command(bootstrap, app_id, tenant, "tenant.set_plan", {"plan": plan})
    await client.send_command(bootstrap, app_id, tenant, "key.create",
                              {"key_id": key_id, "hash": digest, "role": role, "name": "tests"})
    headers = {"x-api-key": key, "x-tenant-id": tenant}
    async with httpx.AsyncClient(timeout=10) as plain:
        for _ in range(300):
            if (await plain.get(f"{base}/api/tenant", headers=headers)).status_code == 200:
                return key
            await asyncio.sleep(0.1)
    raise AssertionError(f"key for {tenant} never became valid on {base}")
