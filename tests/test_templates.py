import pytest

from steps.templates import TemplateError, check, render

CTX = {"input": {"email": "jane@acme.com", "n": 3, "tags": ["a", "b"]},
       "steps": {"step1": {"company": "acme"}, "send-email": {"ok": True}}}


def test_whole_placeholder_keeps_type() -> None:
    assert render("{{input.n}}", CTX) == 3
    assert render("{{ input.tags }}", CTX) == ["a", "b"]


def test_placeholders_inside_text_render_as_text() -> None:
    assert render("hi {{input.email}} at {{steps.step1.company}}", CTX) == \
        "hi jane@acme.com at acme"
    assert render("n={{input.n}} ok={{steps.\"send-email\".ok}}", CTX) == "n=3 ok=true"


def test_missing_path_is_empty_not_an_error() -> None:
    assert render("{{input.nope}}", CTX) is None
    assert render("x{{input.nope}}y", CTX) == "xy"


def test_nested_structures_are_walked() -> None:
    assert render({"a": ["{{input.n}}", {"b": "{{input.email}}"}]}, CTX) == \
        {"a": [3, {"b": "jane@acme.com"}]}


def test_sandbox_has_no_python_access() -> None:
    # JMESPath has no attribute access to Python objects: dunder paths are just missing keys
    assert render("{{input.__class__}}", CTX) is None
    with pytest.raises(TemplateError):
        check("{{ input[ }}")
