"""Credential specs: one valid example per type, type resolution, errors, updates, masking."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.credentials import (
    MASK,
    SPECS,
    CredentialError,
    CredentialInvalid,
    CredentialType,
    masked,
    resolve_type,
    validate,
)

_KEY = Ed25519PrivateKey.generate()
HOST_KEY = _KEY.public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
PRIVATE_KEY = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
    serialization.NoEncryption()).decode()
AZURE_KEY = base64.b64encode(b"k" * 64).decode()

# (type, input, expected public fields, expected secret fields)
VALID: list[tuple[CredentialType, dict[str, Any], dict[str, Any], dict[str, str]]] = [
    (CredentialType.SMTP,
     {"host": "smtp.example.com", "username": "bot", "password": "pw",
      "from_address": "bot@example.com"},
     {"host": "smtp.example.com", "port": 587, "username": "bot",
      "from_address": "bot@example.com", "use_tls": True},
     {"password": "pw"}),
    (CredentialType.TWILIO,
     {"account_sid": "AC" + "a1" * 16, "auth_token": "f" * 32, "from_number": "+14155550100"},
     {"account_sid": "AC" + "a1" * 16, "from_number": "+14155550100"},
     {"auth_token": "f" * 32}),
    (CredentialType.FTP,
     {"host": "10.0.0.5", "port": 2121, "username": "u", "password": "p", "use_tls": False},
     {"host": "10.0.0.5", "port": 2121, "username": "u", "use_tls": False},
     {"password": "p"}),
    (CredentialType.SFTP,
     {"host": "sftp.example.com", "username": "u", "private_key": PRIVATE_KEY,
      "host_key": HOST_KEY},
     {"host": "sftp.example.com", "port": 22, "username": "u", "host_key": HOST_KEY},
     {"private_key": PRIVATE_KEY}),
    (CredentialType.S3,
     {"bucket": "my-bucket", "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE123",
      "secret_access_key": "wJalr/XUtnFEMI+K7MDENG", "endpoint_url": "http://minio:9000"},
     {"bucket": "my-bucket", "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE123",
      "endpoint_url": "http://minio:9000"},
     {"secret_access_key": "wJalr/XUtnFEMI+K7MDENG"}),
    (CredentialType.HTTP_BEARER, {"token": "eyJhbGciOi.x.y"}, {}, {"token": "eyJhbGciOi.x.y"}),
    (CredentialType.HTTP_BASIC, {"username": "alice", "password": "two words"},
     {"username": "alice"}, {"password": "two words"}),
    (CredentialType.HTTP_API_KEY, {"api_key": "k-123"},
     {"header_name": "X-API-Key", "location": "header"}, {"api_key": "k-123"}),
    (CredentialType.TEAMS, {"webhook_url": "https://acme.webhook.office.com/webhookb2/x"},
     {}, {"webhook_url": "https://acme.webhook.office.com/webhookb2/x"}),
    (CredentialType.SLACK,
     {"webhook_url": "https://hooks.slack.com/services/T/B/X", "channel": "#alerts"},
     {"channel": "#alerts"}, {"webhook_url": "https://hooks.slack.com/services/T/B/X"}),
    (CredentialType.DISCORD, {"webhook_url": "https://discord.com/api/webhooks/1/abc"},
     {}, {"webhook_url": "https://discord.com/api/webhooks/1/abc"}),
    (CredentialType.AZURE_BLOB,
     {"account_name": "devstoreaccount1", "container": "reports", "account_key": AZURE_KEY,
      "endpoint_url": "http://azurite:10000/devstoreaccount1"},
     {"account_name": "devstoreaccount1", "container": "reports",
      "endpoint_url": "http://azurite:10000/devstoreaccount1"},
     {"account_key": AZURE_KEY}),
    (CredentialType.BOX, {"access_token": "box-token"}, {"folder_id": "0"},
     {"access_token": "box-token"}),
    (CredentialType.DROPBOX, {"access_token": "sl.abc", "base_path": "/Apps/hopflow"},
     {"base_path": "/Apps/hopflow"}, {"access_token": "sl.abc"}),
]


def issues(ctype: CredentialType | str | int, data: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(CredentialInvalid) as info:
        validate(ctype, data, **kwargs)
    return dict(info.value.issues)


def test_table_covers_all_14_types() -> None:
    assert len(CredentialType) == 14 == len(SPECS)
    assert {t for t, *_ in VALID} == set(CredentialType)


@pytest.mark.parametrize(("ctype", "data", "public", "secret"), VALID,
                         ids=[t.canonical for t, *_ in VALID])
def test_valid_example(ctype: CredentialType, data: dict[str, Any], public: dict[str, Any],
                       secret: dict[str, str]) -> None:
    assert validate(ctype, data) == (public, secret)


@pytest.mark.parametrize(("ctype", "data", "public", "secret"), VALID,
                         ids=[t.canonical for t, *_ in VALID])
def test_unknown_field_rejected(ctype: CredentialType, data: dict[str, Any],
                                public: dict[str, Any], secret: dict[str, str]) -> None:
    found = issues(ctype, {**data, "extra": 1})
    assert list(found) == ["data.extra"]
    assert "unknown field" in found["data.extra"]


@pytest.mark.parametrize(("ctype", "data", "public", "secret"), VALID,
                         ids=[t.canonical for t, *_ in VALID])
def test_missing_required_secret(ctype: CredentialType, data: dict[str, Any],
                                 public: dict[str, Any], secret: dict[str, str]) -> None:
    name = next(iter(secret))
    found = issues(ctype, {k: v for k, v in data.items() if k != name})
    groups = [g for g in SPECS[ctype].one_of if name in g]
    expected = ({"data": f"needs one of: {', '.join(groups[0])}"} if groups
                else {f"data.{name}": "is required"})
    assert found == expected


def test_names_match_004() -> None:
    assert [(t.value, t.canonical, t.pascal) for t in CredentialType] == [
        (0, "smtp", "Smtp"), (1, "twilio", "Twilio"), (2, "ftp", "Ftp"), (3, "sftp", "Sftp"),
        (4, "s3", "AwsS3"), (5, "http_bearer", "HttpBearer"), (6, "http_basic", "HttpBasic"),
        (7, "http_api_key", "HttpApiKey"), (8, "teams", "MicrosoftTeams"), (9, "slack", "Slack"),
        (10, "discord", "Discord"), (11, "azure_blob", "AzureBlobStorage"), (12, "box", "Box"),
        (13, "dropbox", "Dropbox"),
    ]


@pytest.mark.parametrize("value", [4, "s3", "S3", "AwsS3", "awss3", " AWSS3 ", CredentialType.S3])
def test_resolve_type(value: int | str) -> None:
    assert resolve_type(value) is CredentialType.S3


@pytest.mark.parametrize("value", [14, -1, True, "aws", "4", None, 4.0])
def test_resolve_type_rejects(value: Any) -> None:
    with pytest.raises(CredentialError) as info:
        resolve_type(value)
    assert info.value.field == "type"
    assert "smtp" in info.value.message and "dropbox" in info.value.message
    assert info.value.issues == [("type", info.value.message)]


def test_missing_and_empty_required() -> None:
    found = issues("smtp", {"host": "", "password": "pw", "from_address": "a@b.co"})
    assert found == {"data.host": "must not be empty", "data.username": "is required"}


def test_wrong_types() -> None:
    found = issues("smtp", {"host": "h", "port": "587", "username": "u", "password": 5,
                            "from_address": "a@b.co", "use_tls": "yes"})
    assert found == {"data.port": "must be an integer", "data.password": "must be a string",
                     "data.use_tls": "must be true or false"}
    assert issues("ftp", {"host": "h", "port": True, "username": "u", "password": "p"}) == \
        {"data.port": "must be an integer"}
    assert issues("http_bearer", []) == {"data": "must be an object"}


@pytest.mark.parametrize(("ctype", "data", "field"), [
    ("smtp", {"port": 0}, "port"),
    ("smtp", {"port": 65536}, "port"),
    ("smtp", {"from_address": "not-an-email"}, "from_address"),
    ("smtp", {"host": "smtp://x"}, "host"),
    ("twilio", {"account_sid": "AB" + "0" * 32}, "account_sid"),
    ("twilio", {"from_number": "0044123456"}, "from_number"),
    ("sftp", {"host_key": "ssh-ed25519 bm90LWEta2V5"}, "host_key"),
    ("sftp", {"host_key": "ssh-rsa " + HOST_KEY.split()[1]}, "host_key"),
    ("sftp", {"private_key": "just a password"}, "private_key"),
    ("s3", {"bucket": "My_Bucket"}, "bucket"),
    ("s3", {"endpoint_url": "minio:9000"}, "endpoint_url"),
    ("http_bearer", {"token": "Bearer abc"}, "token"),
    ("http_basic", {"username": "a:b"}, "username"),
    ("http_basic", {"password": "line\r\nX-Injected: 1"}, "password"),
    ("http_api_key", {"location": "body"}, "location"),
    ("http_api_key", {"header_name": "X API"}, "header_name"),
    ("slack", {"webhook_url": "ftp://hooks.slack.com/x"}, "webhook_url"),
    ("azure_blob", {"account_key": "not base64!"}, "account_key"),
    ("azure_blob", {"sas_token": "sv=2022-11-02"}, "sas_token"),
    ("box", {"folder_id": "abc"}, "folder_id"),
    ("dropbox", {"base_path": "Apps"}, "base_path"),
])
def test_field_checks(ctype: str, data: dict[str, Any], field: str) -> None:
    base = next(d for t, d, _, _ in VALID if t.canonical == ctype)
    found = issues(ctype, {**base, **data})
    assert list(found) == [f"data.{field}"]
    assert found[f"data.{field}"].startswith("must")
    secret_value = str(data[field])
    assert secret_value not in found[f"data.{field}"], "messages never quote the value"


def test_one_of_groups() -> None:
    sftp = {"host": "h", "username": "u", "host_key": HOST_KEY}
    assert issues("sftp", sftp) == {"data": "needs one of: password, private_key"}
    assert validate("sftp", {**sftp, "password": "pw"})[1] == {"password": "pw"}
    azure = {"account_name": "acct1", "container": "c-1"}
    assert issues("azure_blob", azure) == {"data": "needs one of: account_key, sas_token"}
    sas = "sv=2022-11-02&ss=b&sig=abc%3D"
    assert validate("azure_blob", {**azure, "sas_token": sas})[1] == {"sas_token": sas}


def test_sftp_host_key_is_required() -> None:
    assert issues("sftp", {"host": "h", "username": "u", "password": "pw"}) == \
        {"data.host_key": "is required"}


def test_update_keeps_absent_or_masked_secrets() -> None:
    stored = {"password": "old-pw"}
    data = {"host": "smtp2.example.com", "username": "bot", "from_address": "bot@example.com"}
    assert validate("smtp", data, existing_secrets=stored)[1] == {"password": "old-pw"}
    assert validate("smtp", {**data, "password": MASK}, existing_secrets=stored)[1] == \
        {"password": "old-pw"}
    assert validate("smtp", {**data, "password": "new-pw"}, existing_secrets=stored)[1] == \
        {"password": "new-pw"}
    public, _ = validate("smtp", {**data, "port": 25}, existing_secrets=stored)
    assert public["host"] == "smtp2.example.com" and public["port"] == 25


def test_update_needs_secret_somewhere() -> None:
    data = {"host": "h", "username": "u", "from_address": "a@b.co"}
    assert issues("smtp", data, existing_secrets={}) == {"data.password": "is required"}
    found = issues("smtp", {**data, "password": MASK})
    assert list(found) == ["data.password"] and "masked" in found["data.password"]
    assert issues("smtp", {**data, "password": ""}, existing_secrets={"password": "old"}) == \
        {"data.password": "must not be empty"}


def test_update_can_clear_optional_secret() -> None:
    stored = {"password": "old-pw", "private_key": PRIVATE_KEY}
    data = {"host": "h", "username": "u", "host_key": HOST_KEY}
    assert validate("sftp", data, existing_secrets=stored)[1] == stored
    assert validate("sftp", {**data, "password": None}, existing_secrets=stored)[1] == \
        {"private_key": PRIVATE_KEY}
    assert issues("sftp", {**data, "password": None, "private_key": ""},
                  existing_secrets=stored) == {"data": "needs one of: password, private_key"}


def test_stored_secrets_of_other_fields_are_ignored() -> None:
    _, secret = validate("http_bearer", {}, existing_secrets={"token": "t", "password": "x"})
    assert secret == {"token": "t"}


def test_masked() -> None:
    public, secret = validate(CredentialType.SMTP, VALID[0][1])
    shown = masked("Smtp", public, secret)
    assert shown == {"host": "smtp.example.com", "port": 587, "username": "bot",
                     "password": MASK, "from_address": "bot@example.com", "use_tls": True}
    assert "pw" not in shown.values()


def test_masked_only_present_secrets_and_never_leaks() -> None:
    shown = masked(3, {"host": "h", "password": "leaked?"}, ["private_key"])
    assert shown == {"host": "h", "password": MASK, "private_key": MASK}
    assert masked("sftp", {"host": "h"}, []) == {"host": "h"}


def test_host_key_blob_must_name_its_type() -> None:
    blob = struct.pack(">I", 7) + b"ssh-rsa" + b"\x00" * 8
    line = "ssh-ed25519 " + base64.b64encode(blob).decode()
    found = issues("sftp", {"host": "h", "username": "u", "password": "p", "host_key": line})
    assert list(found) == ["data.host_key"]
