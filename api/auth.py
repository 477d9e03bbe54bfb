"""Who is calling: API keys (servers) and JWTs (dashboards), checked on every request.

One aiohttp middleware authenticates every path but the public ones, so a new
view cannot forget it; views then ask for the role they need (`require`).
Every failure answers the same 401 body, so nothing in it helps guess a key,
a tenant or a signing secret.

API keys look like `hf_<key id>_<secret>`. The registry stores the key id,
the tenant, the role and a SHA-256 of the whole key (keys are 256 random bits,
so a fast hash is as good as a slow one and costs ~1 µs on the hot path); the
id finds the row, `hmac.compare_digest` compares the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from api.errors import ApiError
from schemas.registry import valid_tenant
from streams.registry import Registry
from streams.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("member", "admin", "owner")
RANK = {role: i for i, role in enumerate(ROLES)}
KEY_PREFIX = "hf_"
# Paths anyone may call: liveness, scraping, the API description, public ingest, the console.
PUBLIC_PATHS = ("/healthz", "/metrics", "/api/openapi.json")
PUBLIC_PREFIXES = ("/api/workflows/ingest/", "/console")
JWT_CACHE_SIZE = 10_000
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class Principal:
    tenant: str
    role: str
    actor: str  # key:<key id>, jwt:<subject> (what the audit trail shows)


class Unauthorized(Exception):
    """Why a credential was refused (logged at debug level, never sent to the caller)."""


def new_key() -> tuple[str, str, str]:
    """(key id, the key to hand out once, its hash to store)."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, _ = key[len(KEY_PREFIX):].partition("_")
    return key_id if sep and key_id else None


class Authenticator:
    """Checks one request's credentials against the registry and the JWT settings."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self._hs_secret = settings.jwt_secret
        self._public_keys = _load_public_keys(settings)
        self._jwks = _load_jwks(settings.jwt_jwks_file)
        self._verified: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, headers: Any) -> Principal:
        key = headers.get("x-api-key")
        if key:
            return self._by_key(key, headers.get("x-tenant-id"))
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token:
            return self._by_jwt(token.strip(), headers.get("x-tenant-id"))
        raise Unauthorized("no credentials")

    def _by_key(self, key: str, tenant: str | None) -> Principal:
        if tenant is not None and not valid_tenant(tenant):
            raise Unauthorized("malformed tenant")
        key_id = key_id_of(key)
        row = self.registry.get("apikey", tenant, key_id) if tenant and key_id else None
        stored = row["hash"] if row else _DUMMY_HASH
        if not hmac.compare_digest(hash_key(key), stored) or row is None:
            raise Unauthorized("unknown key or another tenant's")
        if row["revoked_ms"] is not None:
            raise Unauthorized("revoked key")
        return Principal(tenant, row["role"], f"key:{key_id}")  # type: ignore[arg-type]

    def _by_jwt(self, token: str, tenant_header: str | None) -> Principal:
        """Verified tokens are remembered until they expire: a signature check costs ~100 µs
        (HS256) and a dashboard sends the same token on every call."""
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            principal = cached[0]
        else:
            principal, expires = self._verify(token)
            if len(self._verified) >= JWT_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = (principal, expires)
        if tenant_header and tenant_header != principal.tenant:
            raise Unauthorized("x-tenant-id differs from the token's tenant")
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        options = {"require": ["exp"]}
        kwargs: dict[str, Any] = {"issuer": self.settings.jwt_issuer,
                                  "audience": self.settings.jwt_audience, "leeway": 5}
        if self.settings.jwt_audience is None:
            options["verify_aud"] = False  # type: ignore[assignment]
        claims = None
        for key in self._keys_for(alg, header.get("kid")):
            try:
                claims = jwt.decode(token, key, algorithms=[alg], options=options, **kwargs)
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError as exc:
                raise Unauthorized(f"invalid token: {exc}") from exc
        if claims is None:
            raise Unauthorized("no key verifies the token")
        tenant = claims.get(self.settings.jwt_tenant_claim)
        role = claims.get(self.settings.jwt_role_claim)
        if isinstance(role, list):  # several roles: the highest counts
            role = max((r for r in role if r in RANK), key=RANK.__getitem__, default=None)
        if not isinstance(tenant, str) or not valid_tenant(tenant) or role not in RANK:
            raise Unauthorized("token lacks tenant or role")
        return Principal(tenant, role, f"jwt:{claims.get('sub', '?')}"), float(claims["exp"])

    def _keys_for(self, alg: Any, kid: Any) -> list[Any]:
        if alg == "HS256":
            return [self._hs_secret] if self._hs_secret else []
        if alg not in ("RS256", "ES256"):
            return []  # none, HS384, PS256...: refused
        family = "RSA" if alg == "RS256" else "EC"
        found = [k.key for k in self._jwks
                 if k.key_type == family and (kid is None or k.key_id in (None, kid))]
        found += [k for k in self._public_keys if _family(k) == family]
        return found


def _family(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    return "?"


def _load_public_keys(settings: Settings) -> list[Any]:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys = []
    for path in filter(None, (settings.jwt_public_keys or "").split(",")):
        keys.append(load_pem_public_key(Path(path.strip()).read_bytes()))
    return keys


def _load_jwks(path: str | None) -> list[jwt.PyJWK]:
    if not path:
        return []
    return list(jwt.PyJWKSet.from_json(Path(path).read_text()).keys)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def unauthorized() -> web.Response:
    response = ApiError(401, "missing or invalid credentials").response()
    response.headers["WWW-Authenticate"] = 'Bearer realm="hopflow"'
    return response


def middleware(auth: Authenticator) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def authenticate(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
        if not is_public(request.path):
            try:
                request["principal"] = auth.authenticate(request.headers)
            except Unauthorized as exc:
                log.debug("401 on %s %s: %s", request.method, request.path, exc)
                return unauthorized()
        return await handler(request)

    return authenticate


def principal_of(request: web.Request) -> Principal:
    principal = request.get("principal")
    if principal is None:  # a public view asking for a principal: a bug, not the caller's
        raise ApiError(401, "missing or invalid credentials")
    return principal  # type: ignore[no-any-return]


def require(request: web.Request, role: str) -> Principal:
    """The caller, if their role is at least `role` (403 otherwise)."""
    principal = principal_of(request)
    if RANK[principal.role] < RANK[role]:
        raise ApiError(403, f"this needs the {role} role; the caller is {principal.role}")
    return principal
