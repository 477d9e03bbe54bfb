"""The offline lookups alone: real values in, one output shape out, credits by validity."""

from __future__ import annotations

from typing import Any

import pytest

from steps import registry
from steps.base import ExecContext
from steps.graph import InvalidDefinition, validate_workflow
from steps.lookups import domain, email, ip, phone

CTX = ExecContext("r1", "t", "s1", 1)


async def run(module: Any, value: Any, **config: Any) -> dict[str, Any]:
    outcome = await module.execute({"value": value, **config}, CTX)
    assert set(outcome.output) == set(module.OUTPUT)  # one shape, every key, always
    assert outcome.credits == outcome.output["credits"]
    return outcome.output


def test_the_four_lookups_are_registered_io_steps() -> None:
    for type_name in ("phone_lookup", "email_lookup", "domain_lookup", "ip_lookup"):
        assert registry.get(type_name).kind == "io"


async def test_phone_us_and_gb_mobile() -> None:
    us = await run(phone, "+1 650 253 0000")
    assert us["valid"] and us["credits"] == 1 and us["reason"] is None
    assert (us["e164"], us["region"], us["country_code"]) == ("+16502530000", "US", 1)
    assert us["national"] == "(650) 253-0000" and us["international"] == "+1 650-253-0000"
    assert us["line_type"] == "fixed_line_or_mobile" and us["location"] == "Mountain View, CA"
    assert us["time_zones"] == ["America/Los_Angeles"]
    gb = await run(phone, "+44 7400 123456")
    assert (gb["region"], gb["line_type"], gb["e164"]) == ("GB", "mobile", "+447400123456")
    assert gb["carrier"] == "Three" and "Europe/London" in gb["time_zones"]


async def test_phone_default_region_and_invalid_numbers() -> None:
    local = await run(phone, "(650) 253-0000", default_region="US")
    assert local["valid"] and local["e164"] == "+16502530000"
    no_region = await run(phone, "6502530000")
    assert not no_region["valid"] and "default_region" in no_region["reason"]
    for bad in ("hello", "+1 555", 12):
        out = await run(phone, bad)
        assert out["valid"] is False and out["credits"] == 0 and out["reason"]
        assert out["e164"] is None


async def test_email_normalized_free_disposable_role() -> None:
    jane = await run(email, "Jane.Doe@GMAIL.com")
    assert jane["valid"] and jane["credits"] == 1
    assert (jane["normalized"], jane["local_part"], jane["domain"]) == (
        "Jane.Doe@gmail.com", "Jane.Doe", "gmail.com")
    assert jane["free_provider"] and not jane["disposable"] and not jane["role_account"]
    assert (await run(email, "x@mailinator.com"))["disposable"] is True
    assert (await run(email, "x@eu.mailinator.com"))["disposable"] is True
    admin = await run(email, "admin@acme.io")
    assert admin["role_account"] and not admin["free_provider"] and not admin["disposable"]
    assert (await run(email, "No-Reply+x@acme.io"))["role_account"] is True
    assert (await run(email, "joe@gmx.de"))["free_provider"] is True
    assert (await run(email, "joe@gmx.co.uk"))["free_provider"] is True
    assert (await run(email, "joe@gmx.example.org"))["free_provider"] is False
    idn = await run(email, "x@bücher.de")
    assert (idn["domain"], idn["ascii_domain"]) == ("bücher.de", "xn--bcher-kva.de")


async def test_email_invalid_costs_nothing() -> None:
    for bad in ("not-an-email", "a@@b.com", "user@localhost", "a@foo.test", None, ""):
        out = await run(email, bad)
        assert out["valid"] is False and out["credits"] == 0 and out["reason"]
        assert out["normalized"] is None and out["free_provider"] is None


async def test_domain_idn_suffix_subdomain() -> None:
    idn = await run(domain, "bücher.example.co.uk")
    assert idn["valid"] and idn["credits"] == 1
    assert idn["ascii"] == "xn--bcher-kva.example.co.uk"
    assert idn["idn"] == "bücher.example.co.uk"
    assert (idn["registrable_domain"], idn["public_suffix"], idn["subdomain"]) == (
        "example.co.uk", "co.uk", "xn--bcher-kva")
    assert idn["private_suffix"] is False
    url = await run(domain, "https://a.b.example.com/x")
    assert (url["hostname"], url["registrable_domain"], url["subdomain"]) == (
        "a.b.example.com", "example.com", "a.b")
    mail = await run(domain, "jane@Example.COM")
    assert mail["registrable_domain"] == "example.com" and mail["subdomain"] is None
    pages = await run(domain, "foo.github.io")
    assert pages["public_suffix"] == "github.io" and pages["private_suffix"] is True
    assert pages["registrable_domain"] == "foo.github.io"


async def test_domain_invalid_inputs() -> None:
    for bad in ("co.uk", "localhost", "10.0.0.1", "a..b.com", "https://", "-bad-.com"):
        out = await run(domain, bad)
        assert out["valid"] is False and out["credits"] == 0 and out["reason"], bad
        assert out["registrable_domain"] is None


@pytest.mark.parametrize(("address", "scope", "version"), [
    ("10.0.0.1", "private", 4), ("127.0.0.1", "loopback", 4), ("100.64.1.1", "cgnat", 4),
    ("169.254.169.254", "link_local", 4), ("2001:db8::1", "documentation", 6),
    ("::1", "loopback", 6), ("0.0.0.0", "unspecified", 4), ("224.0.0.1", "multicast", 4),
    ("198.18.0.1", "reserved", 4), ("fd00:ec2::254", "private", 6),
    ("::ffff:10.0.0.1", "private", 6),
])
async def test_ip_scopes(address: str, scope: str, version: int) -> None:
    out = await run(ip, address)
    assert (out["scope"], out["version"], out["valid"], out["credits"]) == (scope, version,
                                                                            True, 1)
    assert out["is_global"] is False and out["country"] is None


async def test_ip_global_has_a_country() -> None:
    out = await run(ip, "8.8.8.8")
    assert (out["scope"], out["is_global"], out["country"]) == ("global", True, "US")
    assert out["reverse_pointer"] == "8.8.8.8.in-addr.arpa"
    v6 = await run(ip, "2001:4860:4860::8888")
    assert (v6["version"], v6["scope"], v6["country"]) == (6, "global", "US")
    bad = await run(ip, "999.1.1.1")
    assert bad["valid"] is False and bad["credits"] == 0 and bad["scope"] is None


def issues(steps: list[dict[str, Any]]) -> dict[str, str]:
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow({"name": "x", "steps": steps})
    return {i.field: i.message for i in info.value.issues}


def test_validate_names_the_field() -> None:
    assert list(issues([{"id": "a", "type": "email_lookup", "config": {}}])) == [
        "steps[0].config.value"]
    assert list(issues([{"id": "a", "type": "ip_lookup", "config": {"value": 7}}])) == [
        "steps[0].config.value"]
    assert list(issues([{"id": "a", "type": "domain_lookup",
                         "config": {"value": "{{input.}}"}}])) == ["steps[0].config.value"]
    assert list(issues([{"id": "a", "type": "email_lookup",
                         "config": {"field": "input.[", "value": None}}])) == [
        "steps[0].config.value"]  # both given
    assert list(issues([{"id": "a", "type": "email_lookup",
                         "config": {"field": "{{input.email}}"}}])) == ["steps[0].config.field"]
    assert list(issues([{"id": "a", "type": "phone_lookup",
                         "config": {"value": "{{input.phone}}", "default_region": "XX"}}])) == [
        "steps[0].config.default_region"]
    validate_workflow({"name": "ok", "steps": [
        {"id": "a", "type": "email_lookup", "config": {"field": "input.email"}},
        {"id": "b", "type": "phone_lookup",
         "config": {"value": "{{input.phone}}", "default_region": "us"}}]})

