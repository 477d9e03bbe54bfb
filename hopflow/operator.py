"""`hopflow keys|tenants`: bootstrap and manage tenants straight on Kafka, no API key needed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from api.auth import ROLES, new_key
from schemas.plans import PLANS
from schemas.registry import valid_tenant
from streams.control import client
from streams.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    return Settings(app_id=args.app_id or settings.app_id,
                    bootstrap=args.bootstrap or settings.bootstrap)


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime(
        "%Y-%m-%d %H:%M:%SZ")


async def _apply(settings: Settings, tenant: str, op: str, payload: dict[str, Any],
                 wait: float) -> bool:
    command_id = await client.send_command(settings.bootstrap, settings.app_id, tenant, op,
                                           payload)
    if wait <= 0:
        return True
    outcome = await client.wait_outcome(settings.bootstrap, settings.app_id, command_id, wait)
    if outcome is None:
        print(f"warning: no worker of {settings.app_id} applied it within {wait:.0f} s; "
              f"it applies when one runs", file=sys.stderr)
        return True
    if not outcome.get("ok", True):
        print(f"error: {outcome['message']}", file=sys.stderr)
        return False
    return True


def keys(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not valid_tenant(args.tenant):
        print("error: --tenant must be 1-64 letters, digits, _ . -", file=sys.stderr)
        return 2
    if args.action == "create":
        if args.role not in ROLES:
            print(f"error: --role must be one of {', '.join(ROLES)}", file=sys.stderr)
            return 2
        key_id, key, digest = new_key()
        ok = asyncio.run(_apply(settings, args.tenant, "key.create", {
            "key_id": key_id, "hash": digest, "role": args.role, "name": args.name or ""},
            args.wait))
        if not ok:
            return 1
        print(f"key {key_id} for tenant {args.tenant} ({args.role}); shown once, store it now:",
              file=sys.stderr)
        print(key)
        return 0
    if args.action == "revoke":
        if not args.key_id:
            print("error: keys revoke needs the key id", file=sys.stderr)
            return 2
        ok = asyncio.run(_apply(settings, args.tenant, "key.revoke", {"key_id": args.key_id},
                                args.wait))
        if ok:
            print(f"key {args.key_id} revoked")
        return 0 if ok else 1
    rows = asyncio.run(client.read_registry(settings.bootstrap, settings.app_id))
    prefix = f"apikey/{args.tenant}/"
    print(f"{'KEY ID':14} {'ROLE':7} {'CREATED':21} {'REVOKED':21} NAME")
    for key_name, entry in sorted(rows.items()):
        if key_name.startswith(prefix):
            b = entry["body"]
            print(f"{b['key_id']:14} {b['role']:7} {_when(b['created_ms']):21} "
                  f"{_when(b['revoked_ms']):21} {b['name']}")
    return 0


def tenants(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.action == "set-plan":
        if not args.tenant or not valid_tenant(args.tenant) or args.plan not in PLANS:
            print(f"error: usage: hopflow tenants set-plan TENANT {{{','.join(PLANS)}}}",
                  file=sys.stderr)
            return 2
        ok = asyncio.run(_apply(settings, args.tenant, "tenant.set_plan", {"plan": args.plan},
                                args.wait))
        if ok:
            print(f"tenant {args.tenant}: plan {args.plan}")
        return 0 if ok else 1
    rows = asyncio.run(client.read_registry(settings.bootstrap, settings.app_id))
    found: dict[str, dict[str, Any]] = {}
    for entry in rows.values():
        tenant = found.setdefault(entry["tenant"], {"plan": None, "keys": 0, "workflows": 0})
        if entry["kind"] == "plan":
            tenant["plan"] = entry["body"]["plan"]
        elif entry["kind"] == "apikey" and entry["body"]["revoked_ms"] is None:
            tenant["keys"] += 1
        elif entry["kind"] == "workflow":
            tenant["workflows"] += 1
    print(f"{'TENANT':24} {'PLAN':10} {'KEYS':>5} {'WORKFLOWS':>9}")
    for name, t in sorted(found.items()):
        plan = t["plan"] or f"({settings.default_plan})"
        print(f"{name:24} {plan:10} {t['keys']:>5} {t['workflows']:>9}")
    return 0


def add_parsers(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--app-id", default=None, help="deployment id (HOPFLOW_APP_ID)")
        p.add_argument("--bootstrap", default=None, help="Kafka bootstrap (HOPFLOW_BOOTSTRAP)")
        p.add_argument("--wait", type=float, default=15.0,
                       help="seconds to wait for a worker to apply the change (0: don't)")

    k = sub.add_parser("keys", help="create, list or revoke a tenant's API keys")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("key_id", nargs="?", help="for revoke: the key id (hf_<key id>_...)")
    k.add_argument("--tenant", required=True)
    k.add_argument("--role", default="owner", help="member, admin or owner (default owner)")
    k.add_argument("--name", default=None, help="a label for the key")
    common(k)
    k.set_defaults(func=keys)

    t = sub.add_parser("tenants", help="set a tenant's plan, list tenants")
    t.add_argument("action", choices=["set-plan", "list"])
    t.add_argument("tenant", nargs="?")
    t.add_argument("plan", nargs="?", help=f"one of {', '.join(PLANS)}")
    common(t)
    t.set_defaults(func=tenants)
