"""phone_lookup: parse, validate and describe a phone number offline (phonenumbers).

Carrier is the operator the number range was allocated to (a ported number
keeps its original one). The carrier, geocoder and time-zone data take about a
second to import, so they load on the first lookup, not at worker start.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from steps.base import ExecContext, Issue, Outcome
from steps.lookups.base import CONFIG as CONFIG
from steps.lookups.base import answer, input_text, validate_input

name = "phone_lookup"
kind = "io"
field_is_input = True

TITLE = "Validate and describe a phone number, offline (phonenumbers)"
OUTPUT: dict[str, str] = {
    "input": "the text looked up",
    "valid": "a real, assigned number range for its region",
    "possible": "the length fits the region (weaker than valid)",
    "e164": "+16502530000",
    "national": "(650) 253-0000",
    "international": "+1 650-253-0000",
    "country_code": "calling code, e.g. 1, 44",
    "region": "ISO 3166-1 alpha-2 region, e.g. US, GB",
    "location": "place the range belongs to, e.g. Mountain View, CA (English)",
    "carrier": "operator the range was allocated to, or null",
    "line_type": "fixed_line, mobile, fixed_line_or_mobile, toll_free, premium_rate, "
                 "shared_cost, voip, personal_number, pager, uan, voicemail or unknown",
    "time_zones": "IANA time zones of the range, e.g. [\"America/Los_Angeles\"]",
    "reason": "why the input is not a valid number, else null",
    "credits": "1 for a valid number, else 0",
}

_LINE_TYPES = {value: key.lower() for key, value in vars(PhoneNumberType).items()
               if key.isupper() and isinstance(value, int)}


def _message(exc: NumberParseException) -> str:
    """The parser's message without its "(1) " error-number prefix."""
    text = str(exc)
    hint = " (give +country or set default_region)" if "region" in text.lower() else ""
    return text.split(") ", 1)[-1] + hint


def validate(config: dict[str, Any], where: str) -> list[Issue]:
    issues = validate_input(config, where)
    region = config.get("default_region")
    templated = isinstance(region, str) and "{{" in region  # checked when it is rendered
    if region is not None and not templated and (
            not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS):
        issues.append(Issue(f"{where}.default_region",
                            "must be an ISO 3166-1 alpha-2 region such as US or GB"))
    return issues


def lookup(text: str, default_region: str | None = None) -> Outcome:
    """Describe one number; numbers without +country need `default_region`."""
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return answer(OUTPUT, text, reason=f"not a phone number: {_message(exc)}", possible=False)
    possible = phonenumbers.is_possible_number(number)
    if not phonenumbers.is_valid_number(number):
        why = "a possible length but not an assigned range" if possible else "wrong length"
        return answer(OUTPUT, text, reason=f"not a valid phone number ({why})",
                      possible=possible, country_code=number.country_code)
    from phonenumbers import carrier, geocoder, timezone  # heavy data: first use only

    zones = [z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return answer(
        OUTPUT, text, possible=possible,
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        national=phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        international=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        country_code=number.country_code,
        region=phonenumbers.region_code_for_number(number),
        location=geocoder.description_for_number(number, "en") or None,
        carrier=carrier.name_for_number(number, "en") or None,
        line_type=_LINE_TYPES.get(phonenumbers.number_type(number), "unknown"),
        time_zones=zones)


async def execute(config: dict[str, Any], ctx: ExecContext) -> Outcome:
    text, reason = input_text(config)
    if text is None:
        return answer(OUTPUT, config.get("value"), reason=reason, possible=False)
    region = config.get("default_region")
    return lookup(text, region if isinstance(region, str) and region else None)
