"""Step types by name."""

from __future__ import annotations

from types import ModuleType

from steps import condition, delay, extract, parse, transform, webhook
from steps.integrations import discord, integration, mail, slack, sms, teams
from steps.lookups import company, darkweb, domain, email, ip, phone

STEP_TYPES: dict[str, ModuleType] = {
    m.name: m for m in (transform, condition, delay, webhook, phone, email, domain, ip,
                         company, darkweb, parse, extract, slack, teams, discord, mail, sms,
                         integration)}


def get(type_name: str) -> ModuleType:
    return STEP_TYPES[type_name]


def known() -> list[str]:
    return sorted(STEP_TYPES)
