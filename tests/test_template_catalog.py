"""The built-in template catalog: every template is a valid, working workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import input_schema, template_catalog
from schemas.template_catalog import (
    CATEGORIES,
    definition_from,
    get_template,
    list_templates,
)
from steps import registry
from steps.graph import compile_definition, validate_workflow
from steps.templates import placeholders, render

TEMPLATE_DIR = Path(template_catalog.__file__).parent / "templates"
ALL = list_templates()
IDS = [t["id"] for t in ALL]


def walk(definition: dict[str, Any], data: dict[str, Any],
         answers: dict[str, Any] | None = None, limit: int = 50) -> list[str]:
    """The step ids a run visits, as the state machine would advance it.

    Pure steps run for real; a webhook's output is `{"status": 200, "body": answers[id]}`
    (answers[id] may be a list, consumed one per visit); its config is rendered so a template
    that cannot render fails here.
    """
    answers = {k: list(v) if isinstance(v, list) else v for k, v in (answers or {}).items()}
    graph = compile_definition(definition)
    context: dict[str, Any] = {"input": data, "event": data, "steps": {}, "secrets": {},
                               "run": {"id": "run_test", "workflow_id": "wf", "version": 1,
                                       "attempt": 1}}
    visited: list[str] = []
    current = graph.initial
    while current is not None:
        assert len(visited) < limit, f"run does not end: {visited}"
        step = graph.steps[current]
        visited.append(current)
        module = registry.get(step.type)
        if module.kind == "pure":
            output = module.execute(step.config, context)
        elif module.kind == "delay":
            output = {"waited_ms": 0}
        else:
            render(step.config, context)
            answer = answers.get(current, {})
            body = answer.pop(0) if isinstance(answer, list) else answer
            output = {"status": 200, "body": body}
        context["steps"][current] = output
        current = graph.successor(current, output, context)
    return visited


def test_catalog_has_at_least_two_templates_per_category() -> None:
    assert len(ALL) >= 12
    for category in CATEGORIES:
        assert len(list_templates(category)) >= 2, category


def test_ids_unique_and_match_files() -> None:
    assert len(IDS) == len(set(IDS))
    files = sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))
    assert sorted(IDS) == files
    assert all(i.startswith("tpl_") for i in IDS)


@pytest.mark.parametrize("template_id", IDS)
def test_every_template_validates_today(template_id: str) -> None:
    template = get_template(template_id)
    assert template is not None
    assert set(template) == {"id", "category", "name", "description", "definition"}
    definition = template["definition"]
    stored = validate_workflow(definition)
    assert stored["name"] == definition["name"]
    assert {s["type"] for s in definition["steps"]} <= set(registry.STEP_TYPES)
    assert input_schema.check_definition(definition) == []
    assert input_schema.normalize(definition) is not None


@pytest.mark.parametrize("template_id", IDS)
def test_placeholder_urls_and_secret_auth(template_id: str) -> None:
    """No real endpoint or credential ships in a template; auth comes from secrets."""
    text = (TEMPLATE_DIR / f"{template_id}.json").read_text()
    for step in json.loads(text)["definition"]["steps"]:
        if step["type"] == "webhook":
            assert ".example.com/" in step["config"]["url"], step["id"]
            headers = {k.lower(): v for k, v in step["config"].get("headers", {}).items()}
            assert "{{secrets." in headers["authorization"], step["id"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


@pytest.mark.parametrize("template_id", IDS)
def test_text_with_several_placeholders_renders_as_text(template_id: str) -> None:
    """"{{a}} and {{b}}" must render to text, never be read as one expression."""
    definition = _definition(template_id)
    for text in _strings(definition):
        if len(placeholders(text)) > 1:
            rendered = render(text, {"input": {}, "steps": {}, "run": {}, "secrets": {}})
            assert isinstance(rendered, str), text


def test_category_filter_and_summary_shape() -> None:
    invoices = list_templates("invoice")
    assert {t["category"] for t in invoices} == {"invoice"}
    assert {t["id"] for t in invoices} < set(IDS)
    summary = next(t for t in invoices if t["id"] == "tpl_invoice_approval")
    assert set(summary) == {"id", "category", "name", "description", "stepCount", "triggerType"}
    full = get_template("tpl_invoice_approval")
    assert full is not None
    assert summary["stepCount"] == len(full["definition"]["steps"])
    assert summary["triggerType"] == "webhook"
    order = [CATEGORIES.index(t["category"]) for t in ALL]
    assert order == sorted(order)


def test_unknown_category_names_allowed_ones() -> None:
    with pytest.raises(ValueError) as info:
        list_templates("payroll")
    for category in CATEGORIES:
        assert category in str(info.value)


def test_get_template_unknown_and_copies() -> None:
    assert get_template("tpl_nope") is None
    first = get_template("tpl_webhook_relay")
    assert first is not None
    first["definition"]["steps"].clear()
    again = get_template("tpl_webhook_relay")
    assert again is not None and again["definition"]["steps"]


def test_definition_from_overrides_and_deep_copies() -> None:
    template = get_template("tpl_lead_enrich_business_email")
    assert template is not None
    definition = definition_from(template, {"name": "Acme leads", "description": None})
    assert definition["name"] == "Acme leads"
    assert definition["description"] == template["definition"]["description"]
    definition["steps"][0]["config"]["url"] = "https://changed.example.com/"
    assert template["definition"]["steps"][0]["config"]["url"] != definition["steps"][0][
        "config"]["url"]
    assert validate_workflow(definition)["name"] == "Acme leads"
    assert definition_from(template, {})["name"] == template["definition"]["name"]


# The intended behaviour of a few templates, walked through the real graph and step code.

def _definition(template_id: str) -> dict[str, Any]:
    template = get_template(template_id)
    assert template is not None
    return template["definition"]


def test_lead_enrichment_branches_on_business_email() -> None:
    definition = _definition("tpl_lead_enrich_business_email")
    business = walk(definition, {"email": "jane@acme.com"},
                    {"lookup_person": {"free_email": False, "domain": "acme.com"}})
    assert business == ["lookup_person", "is_business_email", "lookup_company",
                        "shape_contact", "upsert_crm_contact"]
    personal = walk(definition, {"email": "jane@gmail.com"},
                    {"lookup_person": {"free_email": True}})
    assert personal == ["lookup_person", "is_business_email", "add_to_nurture"]


def test_lead_dedupe_skips_enrichment_for_known_contacts() -> None:
    definition = _definition("tpl_lead_dedupe_then_enrich")
    known = walk(definition, {"email": "a@b.co"}, {"find_existing": {"results": [{"id": "c1"}]}})
    assert known == ["find_existing", "log_activity"]
    new = walk(definition, {"email": "a@b.co"}, {"find_existing": {"results": []}})
    assert new == ["find_existing", "lookup_person", "create_contact"]


def test_invoice_approval_threshold_and_polling() -> None:
    definition = _definition("tpl_invoice_approval")
    base = {"document_url": "https://files.example.com/i.pdf", "approver_email": "cfo@x.co"}
    small = walk(definition, base, {"parse_invoice": {"total": 1200}})
    assert small == ["parse_invoice", "fields", "needs_approval", "post_to_accounting"]
    pending, approved = {"status": "pending"}, {"status": "approved"}
    large = walk(definition, base, {"parse_invoice": {"total": 9000},
                                    "check_approval": [pending, approved]})
    assert large == ["parse_invoice", "fields", "needs_approval", "request_approval",
                     "wait_for_decision", "check_approval", "is_approved", "is_rejected",
                     "wait_for_decision", "check_approval", "is_approved", "post_to_accounting"]
    rejected = walk(definition, base, {"parse_invoice": {"total": 9000},
                                       "check_approval": {"status": "rejected"}})
    assert rejected[-1] == "notify_rejection"
    custom = walk(definition, {**base, "approval_threshold": 10000},
                  {"parse_invoice": {"total": 9000}})
    assert custom[-1] == "post_to_accounting" and "request_approval" not in custom


def test_alert_job_failure_pages_only_critical() -> None:
    definition = _definition("tpl_alert_job_failure")
    assert walk(definition, {"job": "etl", "status": "succeeded"}) == ["is_failure"]
    assert walk(definition, {"job": "etl", "status": "failed", "severity": "warning"}) == [
        "is_failure", "notify_channel", "is_critical"]
    assert walk(definition, {"job": "etl", "status": "timed_out", "severity": "critical"})[
        -1] == "page_oncall"
    assert validate_workflow(definition)["retry"]["max_retries"] >= 3


def test_metric_threshold_routes_by_level() -> None:
    definition = _definition("tpl_alert_metric_threshold")
    sample = {"metric": "p95_ms", "service": "api", "warning": 300, "critical": 800}
    assert walk(definition, {**sample, "value": 900}) == ["classify", "page_oncall",
                                                         "notify_channel"]
    assert walk(definition, {**sample, "value": 400}) == ["classify", "notify_channel"]
    assert walk(definition, {**sample, "value": 100}) == ["classify", "resolve_alert"]


def test_signature_followup_reminds_until_signed() -> None:
    definition = _definition("tpl_contract_signature_followup")
    steps = walk(definition, {"counterparty": "Acme"}, {
        "create_envelope": {"id": "env1"},
        "check_status": [{"status": "sent"}, {"status": "completed"}]})
    assert steps.count("send_reminder") == 1 and steps[-1] == "store_signed"
    declined = walk(definition, {"counterparty": "Acme"},
                    {"check_status": {"status": "declined"}})
    assert declined[-1] == "notify_stalled"
