"""`hopflow secrets rotate|generate-key`: the operator's side of secrets at rest.

Rotation, step by step: put a new key first (`HOPFLOW_SECRETS_KEYS=new,old`)
on every worker and here, run `hopflow secrets rotate` (it re-encrypts every
secret and every credential's secrets still written under an older key), then
drop the old key. It reads the registry straight from Kafka and sends
`secret.rotate` / `credential.rotate` commands; each replaces a ciphertext only
if it is still the one read here, so a value written meanwhile is never undone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from schemas import codec
from streams.control import client
from streams.keyring import Keyring, KeyringError, generate_key
from streams.settings import Settings
from topics.catalog import Catalog

_COMMAND = codec("control_command")
Command = tuple[str, str, dict[str, Any]]  # tenant, op, payload


def plan_rotation(rows: dict[str, dict[str, Any]], keyring: Keyring
                  ) -> tuple[list[Command], int, list[str]]:
    """(commands to send, values already on the newest key, problems) for registry rows."""
    commands: list[Command] = []
    current = 0
    problems: list[str] = []
    for entry in rows.values():
        kind, tenant, entry_id = entry["kind"], entry["tenant"], entry["id"]
        if kind not in ("secret", "credential"):
            continue
        token = entry["body"]["ciphertext"]
        try:
            if not keyring.needs_rotation(token):
                current += 1
                continue
            rotated = keyring.rotate(token)
        except KeyringError as exc:
            problems.append(f"{kind} {tenant}/{entry_id}: {exc}")
            continue
        field = "name" if kind == "secret" else "id"
        commands.append((tenant, f"{kind}.rotate", {
            field: entry_id, "ciphertext": rotated, "previous": token,
            "key_id": keyring.key_id}))
    return commands, current, problems


async def _send_all(settings: Settings, commands: list[Command]) -> dict[str, str]:
    """Produce every command with one producer; tenant -> id of its last command."""
    last: dict[str, str] = {}
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all",
                                **settings.kafka.client_options())
    await producer.start()
    try:
        topic = Catalog(settings.app_id).control_commands.name
        for tenant, op, payload in commands:
            command_id = uuid.uuid4().hex
            await producer.send_and_wait(topic, key=tenant.encode(), value=_COMMAND.encode({
                "id": command_id, "tenant": tenant, "op": op, "actor": client.OPERATOR,
                "payload": orjson.dumps(payload).decode(), "ts_ms": int(time.time() * 1000)}))
            last[tenant] = command_id
    finally:
        await producer.stop()
    return last


async def _rotate(settings: Settings, keyring: Keyring, wait: float) -> int:
    rows = await client.read_registry(settings.bootstrap, settings.app_id)
    commands, current, problems = plan_rotation(rows, keyring)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    last = await _send_all(settings, commands) if commands else {}
    if wait > 0:
        for command_id in last.values():  # a tenant's commands apply in order: its last one
            if await client.wait_outcome(settings.bootstrap, settings.app_id, command_id,
                                         wait) is None:
                print(f"warning: no worker of {settings.app_id} applied the rotation within "
                      f"{wait:.0f} s; it applies when one runs", file=sys.stderr)
                break
    print(f"rotated {len(commands)} to key {keyring.key_id} ({current} already on it, "
          f"{len(problems)} failed)")
    return 1 if problems else 0


def secrets(args: argparse.Namespace) -> int:
    if args.action == "generate-key":
        print(generate_key())
        return 0
    settings = Settings()
    settings = Settings(app_id=args.app_id or settings.app_id,
                        bootstrap=args.bootstrap or settings.bootstrap)
    try:
        keyring = Keyring.from_settings(settings.secrets_keys, settings.secrets_key_file)
    except KeyringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not keyring.configured:
        print("error: set HOPFLOW_SECRETS_KEYS (newest key first) or HOPFLOW_SECRETS_KEY_FILE",
              file=sys.stderr)
        return 2
    return asyncio.run(_rotate(settings, keyring, args.wait))


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("secrets", help="re-encrypt secrets under the newest key; make a key")
    s.add_argument("action", choices=["rotate", "generate-key"])
    s.add_argument("--app-id", default=None, help="deployment id (HOPFLOW_APP_ID)")
    s.add_argument("--bootstrap", default=None, help="Kafka bootstrap (HOPFLOW_BOOTSTRAP)")
    s.add_argument("--wait", type=float, default=15.0,
                   help="seconds to wait for a worker to apply the change (0: don't)")
    s.set_defaults(func=secrets)
