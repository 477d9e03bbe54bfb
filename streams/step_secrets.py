"""Secrets and credentials for one step execution, decrypted only here, in the executor.

The run agent dispatches configs whose `{{secrets...}}` placeholders are still
placeholders (steps/templates.py); `prepare` decrypts the ones a config reads
and the credential named by `credential_id`, and returns every plaintext it
used so the executor can redact them from what leaves the step. A reference
to something that does not exist fails the step for good: retrying would not
make it appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from steps.base import StepFailed
from steps.templates import TemplateError, fill_secrets, has_secrets, secret_names
from streams.keyring import Keyring, KeyringError


class RegistryReader(Protocol):
    def get(self, kind: str, tenant: str, entry_id: str) -> dict[str, Any] | None: ...


@dataclass
class Prepared:
    config: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    plaintexts: list[str] = field(default_factory=list)  # to redact from the step's outcome


def _decrypt(keyring: Keyring, ciphertext: str, what: str) -> str:
    try:
        return keyring.decrypt(ciphertext)
    except KeyringError as exc:
        raise StepFailed(f"cannot decrypt {what}: {exc}") from None


def _secrets(config: dict[str, Any], tenant: str, registry: RegistryReader,
             keyring: Keyring) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in sorted(secret_names(config)):
        row = registry.get("secret", tenant, name)
        if row is None:
            raise StepFailed(f"secret {name!r} is not defined")
        values[name] = _decrypt(keyring, row["ciphertext"], f"secret {name!r}")
    return values


def _credential(credential_id: Any, tenant: str, registry: RegistryReader,
                keyring: Keyring) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(credential_id, str):
        raise StepFailed("credential_id must be a string")
    row = registry.get("credential", tenant, credential_id)
    if row is None:
        raise StepFailed(f"credential {credential_id!r} not found (deleted?)")
    text = _decrypt(keyring, row["ciphertext"], f"credential {credential_id!r}")
    try:
        secret = orjson.loads(text)
    except orjson.JSONDecodeError:
        secret = None
    if not isinstance(secret, dict):
        raise StepFailed(f"credential {credential_id!r} holds unreadable secrets")
    plaintexts = [v for v in secret.values() if isinstance(v, str)]
    return {"type": row["type"], **row["public"], **secret}, plaintexts


def prepare(config: dict[str, Any], tenant: str, registry: RegistryReader,
            keyring: Keyring) -> Prepared:
    """The config with its secrets filled in, the credential, and the plaintexts used."""
    prepared = Prepared(config)
    if has_secrets(config):
        values = _secrets(config, tenant, registry, keyring)
        prepared.plaintexts.extend(values.values())
        try:
            prepared.config = fill_secrets(config, values)
        except TemplateError as exc:
            raise StepFailed(f"bad secret placeholder: {exc}") from None
    credential_id = config.get("credential_id")
    if config.get("integration_id") is not None:
        integration, plaintexts = _integration(config["integration_id"], tenant, registry,
                                               keyring)
        prepared.extras["integration"] = integration
        prepared.plaintexts.extend(plaintexts)
        credential_id = integration.get("credential_id")  # an email integration's smtp login
    if credential_id is not None:
        credential, plaintexts = _credential(credential_id, tenant, registry, keyring)
        prepared.extras["credential"] = credential
        prepared.plaintexts.extend(plaintexts)
    return prepared


def _plaintexts(value: Any) -> list[str]:
    """Every string inside a decrypted value (webhook headers are an object)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _plaintexts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _plaintexts(v)]
    return []


def _integration(integration_id: Any, tenant: str, registry: RegistryReader,
                 keyring: Keyring) -> tuple[dict[str, Any], list[str]]:
    """A saved integration (002): its type and config, secret fields decrypted."""
    if not isinstance(integration_id, str):
        raise StepFailed("integration_id must be a string")
    row = registry.get("integration", tenant, integration_id)
    if row is None:
        raise StepFailed(f"integration {integration_id!r} not found (deleted?)")
    secret: Any = {}
    if row.get("secret_names"):
        text = _decrypt(keyring, row["ciphertext"], f"integration {integration_id!r}")
        try:
            secret = orjson.loads(text)
        except orjson.JSONDecodeError:
            secret = None
        if not isinstance(secret, dict):
            raise StepFailed(f"integration {integration_id!r} holds unreadable secrets")
    return {**row["public"], **secret, "type": row["type"]}, _plaintexts(secret)
