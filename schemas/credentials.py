"""The typed credentials of reference 004: one table of field specs drives validation and masking.

Each type's data splits into public fields (stored and shown as is) and secret fields (encrypted
at rest, never shown: responses carry MASK instead). On update an absent or masked secret keeps
its stored value, so clients can send back what they were shown.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

MASK = "••••••"


class CredentialType(IntEnum):
    """Enum values of 004 ("Credential Type Enum Values")."""

    SMTP = 0
    TWILIO = 1
    FTP = 2
    SFTP = 3
    S3 = 4
    HTTP_BEARER = 5
    HTTP_BASIC = 6
    HTTP_API_KEY = 7
    TEAMS = 8
    SLACK = 9
    DISCORD = 10
    AZURE_BLOB = 11
    BOX = 12
    DROPBOX = 13

    @property
    def canonical(self) -> str:
        """Our snake_case name, used in APIs and logs."""
        return self.name.lower()

    @property
    def pascal(self) -> str:
        """004's name, accepted on input for compatibility."""
        return _PASCAL[self]


_PASCAL = {
    CredentialType.SMTP: "Smtp", CredentialType.TWILIO: "Twilio", CredentialType.FTP: "Ftp",
    CredentialType.SFTP: "Sftp", CredentialType.S3: "AwsS3",
    CredentialType.HTTP_BEARER: "HttpBearer", CredentialType.HTTP_BASIC: "HttpBasic",
    CredentialType.HTTP_API_KEY: "HttpApiKey", CredentialType.TEAMS: "MicrosoftTeams",
    CredentialType.SLACK: "Slack", CredentialType.DISCORD: "Discord",
    CredentialType.AZURE_BLOB: "AzureBlobStorage", CredentialType.BOX: "Box",
    CredentialType.DROPBOX: "Dropbox",
}
_BY_NAME = {name.lower(): t for t in CredentialType for name in (t.canonical, t.pascal)}


class CredentialInvalid(ValueError):
    """Credential input is wrong; `issues` are (field path, message) pairs, e.g. data.port."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in issues))
        self.issues = issues


class CredentialError(CredentialInvalid):
    """One wrong field (such as an unknown type); a CredentialInvalid so one except catches both."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([(field, message)])
        self.field = field
        self.message = message


_REQUIRED = object()


@dataclass(frozen=True)
class FieldSpec:
    """One field of a credential type; `hint` completes "must be ..." when `pattern` fails."""

    name: str
    kind: type = str
    required: bool = True
    secret: bool = False
    default: Any = _REQUIRED
    pattern: str | None = None
    hint: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 2048
    multiline: bool = False
    check: Callable[[Any], str | None] | None = None


@dataclass(frozen=True)
class TypeSpec:
    """A credential type's fields; each `one_of` group needs at least one member set."""

    fields: tuple[FieldSpec, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", value):
        return "must be an http:// or https:// URL"
    return None


_HOST_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                   "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                   "sk-ecdsa-sha2-nistp256@openssh.com")


def _host_key(value: str) -> str | None:
    """An OpenSSH public key line whose blob names the same algorithm: pinned, never learned."""
    problem = ("must be the server's OpenSSH public host key, e.g. 'ssh-ed25519 AAAA...' "
               f"(types: {', '.join(_HOST_KEY_TYPES)})")
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _HOST_KEY_TYPES:
        return problem
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
    except (binascii.Error, ValueError, struct.error):
        return problem
    if blob[4:4 + length] != parts[0].encode():
        return problem
    return None


def _private_key(value: str) -> str | None:
    text = value.strip()
    if not text.startswith("-----BEGIN ") or "PRIVATE KEY-----" not in text:
        return "must be a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)"
    return None


def _pem_cert(value: str) -> str | None:
    if "-----BEGIN CERTIFICATE-----" not in value:
        return "must be a PEM certificate (-----BEGIN CERTIFICATE-----)"
    return None


def _b64(value: str) -> str | None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64 (as shown in the Azure portal)"
    return None


def _base_path(value: str) -> str | None:
    if ".." in value.split("/"):
        return "must not contain '..'"
    return None


_BASE_PATH = FieldSpec("base_path", required=False, max_length=1024, check=_base_path)
_CA_CERT = FieldSpec("ca_cert", required=False, multiline=True, max_length=16384,
                     check=_pem_cert)


def _sas(value: str) -> str | None:
    return None if "sig=" in value else "must be a SAS token (a query string with sig=...)"


_NO_SPACE = r"\S+"
_HOST = FieldSpec("host", pattern=r"[A-Za-z0-9._:\[\]-]{1,253}",
                  hint="a host name or IP address, without scheme or path")
_USERNAME = FieldSpec("username")
_PASSWORD = FieldSpec("password", secret=True)


def _port(default: int) -> FieldSpec:
    return FieldSpec("port", kind=int, default=default, minimum=1, maximum=65535)


def _webhook(*extra: FieldSpec) -> TypeSpec:
    """Teams, Slack, Discord: the webhook URL itself is the credential."""
    return TypeSpec((FieldSpec("webhook_url", secret=True, check=_http_url), *extra))


SPECS: dict[CredentialType, TypeSpec] = {
    CredentialType.SMTP: TypeSpec((
        _HOST, _port(587), _USERNAME, _PASSWORD,
        FieldSpec("from_address", pattern=r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+",
                  hint="an email address"),
        FieldSpec("use_tls", kind=bool, default=True),
        # none | starttls | tls; when absent, use_tls decides (tls on port 465, else starttls)
        FieldSpec("security", required=False, choices=("none", "starttls", "tls")),
        # a PEM CA certificate to trust for this server (a private CA); never turns checks off
        _CA_CERT,
    )),
    CredentialType.TWILIO: TypeSpec((
        FieldSpec("account_sid", pattern=r"AC[0-9a-fA-F]{32}",
                  hint="a Twilio Account SID (AC followed by 32 hex digits)"),
        FieldSpec("auth_token", secret=True, pattern=r"[0-9a-fA-F]{32}",
                  hint="a Twilio auth token (32 hex digits)"),
        FieldSpec("from_number", pattern=r"\+[1-9]\d{6,14}",
                  hint="a phone number in E.164 form, e.g. +14155550100"),
    )),
    CredentialType.FTP: TypeSpec((
        _HOST, _port(21), _USERNAME, _PASSWORD, FieldSpec("use_tls", kind=bool, default=True),
        _BASE_PATH,  # uploads stay inside it (steps/uploads/base.py)
        # a PEM CA certificate to trust for this server's FTPS (a private CA); checks stay on
        _CA_CERT,
    )),
    CredentialType.SFTP: TypeSpec((
        _HOST, _port(22), _USERNAME,
        FieldSpec("password", secret=True, required=False),
        FieldSpec("private_key", secret=True, required=False, multiline=True,
                  max_length=16384, check=_private_key),
        FieldSpec("host_key", max_length=8192, check=_host_key),
        _BASE_PATH,
    ), one_of=(("password", "private_key"),)),
    CredentialType.S3: TypeSpec((
        FieldSpec("bucket", pattern=r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
                  hint="an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
        FieldSpec("region", pattern=r"[a-z0-9][a-z0-9-]{0,62}",
                  hint="a region name such as us-east-1"),
        FieldSpec("access_key_id", pattern=r"\S{3,128}", hint="an access key id"),
        FieldSpec("secret_access_key", secret=True, pattern=_NO_SPACE,
                  hint="a secret access key without whitespace"),
        FieldSpec("endpoint_url", required=False, check=_http_url),
        FieldSpec("prefix", required=False, max_length=1024),
    )),
    CredentialType.HTTP_BEARER: TypeSpec((
        FieldSpec("token", secret=True, pattern=_NO_SPACE,
                  hint="the token alone, without whitespace or a 'Bearer ' prefix"),
    )),
    CredentialType.HTTP_BASIC: TypeSpec((
        FieldSpec("username", pattern=r"[^:]+", hint="a user name without ':'"),
        _PASSWORD,
    )),
    CredentialType.HTTP_API_KEY: TypeSpec((
        FieldSpec("header_name", default="X-API-Key", max_length=256,
                  pattern=r"[!#$%&'*+.^_`|~0-9A-Za-z-]+",
                  hint="a header (or query parameter) name"),
        FieldSpec("api_key", secret=True, pattern=_NO_SPACE, hint="a key without whitespace"),
        FieldSpec("location", default="header", choices=("header", "query")),
    )),
    CredentialType.TEAMS: _webhook(),
    CredentialType.SLACK: _webhook(
        FieldSpec("channel", required=False, pattern=r"[#@]?[^\s#@]{1,80}",
                  hint="a channel name or id, e.g. #alerts"),
    ),
    CredentialType.DISCORD: _webhook(),
    CredentialType.AZURE_BLOB: TypeSpec((
        FieldSpec("account_name", pattern=r"[a-z0-9]{3,24}",
                  hint="a storage account name (3-24 lowercase letters and digits)"),
        FieldSpec("container", pattern=r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]",
                  hint="a container name (3-63 lowercase letters, digits, single hyphens)"),
        FieldSpec("account_key", secret=True, required=False, check=_b64),
        FieldSpec("sas_token", secret=True, required=False, max_length=4096, check=_sas),
        FieldSpec("endpoint_url", required=False, check=_http_url),
    ), one_of=(("account_key", "sas_token"),)),
    CredentialType.BOX: TypeSpec((
        FieldSpec("access_token", secret=True, pattern=_NO_SPACE,
                  hint="a token without whitespace"),
        FieldSpec("folder_id", default="0", pattern=r"\d{1,20}", hint="a numeric folder id"),
    )),
    CredentialType.DROPBOX: TypeSpec((
        FieldSpec("access_token", secret=True, pattern=_NO_SPACE,
                  hint="a token without whitespace"),
        FieldSpec("base_path", required=False, pattern=r"/.*", hint="a path starting with '/'"),
    )),
}


def resolve_type(value: int | str | CredentialType) -> CredentialType:
    """The type from 004's int, our snake_case name or 004's PascalCase name (any case)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return CredentialType(value)
        except ValueError:
            pass
    elif isinstance(value, str) and value.strip().lower() in _BY_NAME:
        return _BY_NAME[value.strip().lower()]
    names = ", ".join(t.canonical for t in CredentialType)
    raise CredentialError("type", f"unknown credential type {value!r}; allowed: {names} "
                                  f"(or 004's names such as AwsS3, or 0-{len(CredentialType) - 1})")


def spec_for(value: int | str | CredentialType) -> TypeSpec:
    return SPECS[resolve_type(value)]


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _problem(spec: FieldSpec, value: Any) -> str | None:
    """Why `value` does not fit `spec`, or None; messages never quote the value."""
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        return f"must be {_TYPE_NAMES[spec.kind]}"
    if spec.kind is int:
        if (spec.minimum is not None and value < spec.minimum) or \
                (spec.maximum is not None and value > spec.maximum):
            return f"must be between {spec.minimum} and {spec.maximum}"
        return None
    if spec.kind is not str:
        return None
    if len(value) > spec.max_length:
        return f"must be at most {spec.max_length} characters"
    if (_CONTROL_MULTILINE if spec.multiline else _CONTROL).search(value):
        return "must not contain control characters or line breaks"
    if spec.choices and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}"
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return f"must be {spec.hint}"
    return spec.check(value) if spec.check else None


def validate(type: int | str | CredentialType, data: Any, *,
             existing_secrets: Mapping[str, str] | None = None
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """(public_fields, secret_fields) of `data`, defaults applied, or CredentialInvalid.

    On update pass the stored secrets: a secret field that is absent or equals MASK keeps its
    stored value; null or "" clears an optional secret. Public fields are replaced as sent.
    """
    ctype = resolve_type(type)
    spec = SPECS[ctype]
    if not isinstance(data, dict):
        raise CredentialInvalid([("data", "must be an object")])
    existing = existing_secrets or {}
    issues: list[tuple[str, str]] = []
    allowed = ", ".join(spec.by_name)
    issues.extend((f"data.{key}", f"unknown field for {ctype.canonical}; allowed: {allowed}")
                  for key in data if key not in spec.by_name)
    public: dict[str, Any] = {}
    secret: dict[str, str] = {}
    for fs in spec.fields:
        path = f"data.{fs.name}"
        value = data.get(fs.name)
        if fs.secret and (fs.name not in data or value == MASK):
            kept = existing.get(fs.name)
            if isinstance(kept, str) and kept:
                secret[fs.name] = kept
                continue
            if value == MASK:
                issues.append((path, "is masked but no value is stored; send the secret itself"))
                continue
        if value is None or value == "":
            if fs.default is not _REQUIRED:
                public[fs.name] = fs.default
            elif fs.required:
                issues.append((path, "is required" if value is None else "must not be empty"))
            continue
        problem = _problem(fs, value)
        if problem:
            issues.append((path, problem))
        else:
            (secret if fs.secret else public)[fs.name] = value
    for group in spec.one_of:
        failed = {path for path, _ in issues}
        if not any(name in secret or name in public or f"data.{name}" in failed
                   for name in group):
            issues.append(("data", f"needs one of: {', '.join(group)}"))
    if issues:
        raise CredentialInvalid(issues)
    return public, secret


def masked(type: int | str | CredentialType, public: Mapping[str, Any],
           secret_names: Iterable[str]) -> dict[str, Any]:
    """The data as shown in responses: public fields as is, every stored secret as MASK."""
    spec = spec_for(type)
    stored = set(secret_names)
    shown: dict[str, Any] = {}
    for fs in spec.fields:
        if fs.secret:
            if fs.name in stored or fs.name in public:
                shown[fs.name] = MASK
        elif fs.name in public:
            shown[fs.name] = public[fs.name]
    secret_fields = set(spec.secret_names)
    for key, value in public.items():
        if key not in shown and key not in secret_fields:
            shown[key] = value
    return shown
