"""Step types by name."""

from __future__ import annotations

from types import ModuleType

from steps import condition, delay, transform, webhook
from steps.lookups import company, darkweb, domain, email, ip, phone

STEP_TYPES: dict[str, ModuleType] = {
    m.name: m for m in (transform, condition, delay, webhook, phone, email, domain, ip,
                        company, darkweb)}


def get(type_name: str) -> ModuleType:
    return STEP_TYPES[type_name]


def known() -> list[str]:
    return sorted(STEP_TYPES)
