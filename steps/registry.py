"""Step types by name (a module's ALIASES, e.g. 003's `collect-inputs`, name it too)."""

from __future__ import annotations

from types import ModuleType

from steps import (
    collect_inputs,
    condition,
    delay,
    end_flow,
    extract,
    parse,
    transform,
    user_action,
    webhook,
)
from steps.integrations import discord, integration, mail, slack, sms, teams
from steps.lookups import company, darkweb, domain, email, google, ip, phone
from steps.uploads import azure_blob, box, dropbox, ftp, sftp
from steps.uploads import s3 as upload_s3

MODULES: tuple[ModuleType, ...] = (
    transform, condition, delay, webhook, phone, email, domain, ip, company, darkweb, google,
    parse, extract, slack, teams, discord, mail, sms, integration, collect_inputs, user_action,
    end_flow, ftp, sftp, azure_blob, box, dropbox, upload_s3)
STEP_TYPES: dict[str, ModuleType] = {
    alias: m for m in MODULES for alias in (m.name, *getattr(m, "ALIASES", ()))}


def get(type_name: str) -> ModuleType:
    return STEP_TYPES[type_name]


def known() -> list[str]:
    return sorted(STEP_TYPES)
