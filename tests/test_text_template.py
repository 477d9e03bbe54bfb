"""Jinja text templates: the rule for when text is Jinja, the sandbox and its limits."""

from __future__ import annotations

import pytest

from steps.templates import check, fill_secrets, render, secret_names
from steps.text_template import (
    MAX_RENDERED_CHARS,
    MAX_TEMPLATE_BYTES,
    TemplateError,
    is_jinja,
    render_text,
)

CTX = {"input": {"items": [{"n": "a", "q": 2}, {"n": "b", "q": 3}], "name": "Jo",
                 "evil": "x\x00{{secrets.k}}\x00y", "keys": "data-key"},
       "steps": {"s1": {"ok": True}}, "event": {}, "run": {"id": "r-1"}, "secrets": {}}


def test_rule_jinja_only_with_tags_or_comments() -> None:
    assert is_jinja("{% if x %}y{% endif %}") and is_jinja("{# note #}")
    assert not is_jinja("{{input.name}}") and not is_jinja("plain")
    # a plain placeholder string keeps the JMESPath path (type kept, JMESPath syntax)
    assert render("{{input.items[0].q}}", CTX) == 2
    assert render('{{steps."s1".ok}}', CTX) is True


def test_loops_conditionals_and_printing() -> None:
    text = "{% for i in input.items %}{{ i.n }}={{ i.q }}{% if not loop.last %}, {% endif %}" \
           "{% endfor %} for {{ input.name }} ok={{ steps.s1.ok }} run={{ run.id }}{# c #}"
    assert render(text, CTX) == "a=2, b=3 for Jo ok=true run=r-1"
    assert render("{% if input.missing.deep %}x{% else %}none{% endif %}", CTX) == "none"
    assert render("{{ input.keys }}{# data keys win over dict methods #}", CTX) == "data-key"
    assert render("{% raw %}{% endraw %}{{ input.items[1] }}", CTX) == '{"n":"b","q":3}'


def test_sandbox_refuses_internals_and_mutation() -> None:
    assert render_text("{{ ''.__class__.__mro__ }}", CTX) == ""
    assert render_text("{{ input.__class__.__init__.__globals__ }}", CTX) == ""
    assert render_text("{{ cycler.__init__.__globals__.os }}", CTX) == ""  # no such global
    for text in ("{{ lipsum() }}",
                 "{{ input.items.append(1) }}", "{{ ''.__class__.__subclasses__() }}",
                 "{{ 'x{}'.format(1) }}"):
        with pytest.raises(TemplateError):
            render_text(text, CTX)
    assert CTX["input"]["items"] == [{"n": "a", "q": 2}, {"n": "b", "q": 3}]


@pytest.mark.parametrize("text", ['{% include "other" %}', '{% import "m" as m %}',
                                  '{% extends "base" %}', '{% from "m" import f %}'])
def test_no_include_import_extends(text: str) -> None:
    with pytest.raises(TemplateError, match="disabled"):
        render_text(text, CTX)


def test_loops_capped_at_500_in_total() -> None:
    assert render_text("{% for i in range(500) %}{% endfor %}ok", CTX) == "ok"
    nested = "{% for a in range(30) %}{% for b in range(30) %}.{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match="500 iterations"):
        render_text(nested, CTX)
    with pytest.raises(TemplateError, match="500 iterations"):
        render_text("{% for i in range(10**9) %}{% endfor %}", CTX)
    recursive = "{% for x in data recursive %}{{ loop(x) if x is iterable else '' }}" \
                "{% endfor %}"
    with pytest.raises(TemplateError, match="500 iterations"):
        render_text(recursive, {"data": [list(range(300)), list(range(300))]})
    # the budget is per render: the next render starts afresh
    assert render_text("{% for i in range(400) %}{% endfor %}ok", CTX) == "ok"


def test_recursion_capped_at_50() -> None:
    deep = "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}" \
           "{% endmacro %}{{ f(0) }}"
    assert render_text(deep, CTX) == "40"
    with pytest.raises(TemplateError, match="deeper than 50"):
        render_text("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", CTX)


def test_macro_calls_capped_in_total_not_only_in_depth() -> None:
    """Two calls per level, 30 levels deep, is 2**30 calls: hours of the run agent."""
    fan = "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}.{% endmacro %}"
    assert len(render_text(fan + "{{ m(10) }}", CTX)) == 2 ** 11 - 1
    with pytest.raises(TemplateError, match="macro calls"):
        render_text(fan + "{{ m(30) }}", CTX)


@pytest.mark.parametrize("text", [
    "{{ 'x' * 10**9 }}", "{{ input.items * 1000000 }}", "{{ '%0999999d' % 1 }}",
    "{{ 'x'.ljust(10**9) }}", "{{ 'x'|center(10**9) }}", "{{ '%*d'|format(10**8, 1) }}",
    '{% set ns = namespace(s="xx") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
    "{% endfor %}",
    "{{ range(9000)|join('x' * 100) }}",
])
def test_huge_values_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        render_text(text, CTX)


def test_rendered_output_capped_at_256_kb() -> None:
    big = {"input": {"s": "y" * 1000}}
    assert len(render_text("{% for i in range(262) %}{{ input.s }}{% endfor %}", big)) == 262000
    with pytest.raises(TemplateError, match=str(MAX_RENDERED_CHARS)):
        render_text("{% for i in range(263) %}{{ input.s }}{% endfor %}", big)
    assert MAX_RENDERED_CHARS == 256 * 1024
    with pytest.raises(TemplateError, match="longer than"):  # the placeholder path too
        render("{{input.s}}" * 300, big)


def test_check_at_save_refuses_bad_and_oversized_templates() -> None:
    check("{% for i in input.items %}{{ i }}{% endfor %}")
    with pytest.raises(TemplateError, match="does not compile"):
        check({"body": ["{% for i in x %}no end"]})
    with pytest.raises(TemplateError, match="64 KB"):
        check("{# pad #}" + "x" * MAX_TEMPLATE_BYTES)
    with pytest.raises(TemplateError, match="64 KB"):
        check("{{input.a}}" + "x" * MAX_TEMPLATE_BYTES)


def test_secrets_stay_fenced_for_the_executor() -> None:
    text = "{% if input.name %}Bearer {{ secrets.tok }} / {{ 'k=' ~ secrets['api'] }}" \
           "{% endif %} {{ input.evil }}"
    rendered = render(text, CTX, keep_secrets=True)
    assert secret_names(rendered) == {"tok", "api"}  # data's forged fence is not one
    filled = fill_secrets(rendered, {"tok": "T0K", "api": "A9"})
    assert filled == "Bearer T0K / k=A9 x\ufffd{{secrets.k}}\ufffdy"
    # without keep_secrets (run results, output templates) secrets read as empty
    assert render("{% if 1 %}[{{ secrets.tok }}]{% endif %}", CTX) == "[]"


def test_compiled_templates_are_cached() -> None:
    from steps.text_template import compile_text
    text = "{% for i in input.items %}{{ i.n }}{% endfor %}"
    assert compile_text(text) is compile_text(text)


@pytest.mark.parametrize("text", [
    '{{ (["x".ljust(250000)] * 1000) | join | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | join | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | tojson | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | string | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | lower | length }}',
    '{% set a = "x".ljust(200000) %}{{ "".join([a, a, a, a, a, a]) | length }}',
    '{% set a = "x".ljust(200000) %}{{ "%s" % ([a, a, a, a, a, a],) }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] }}',
    '{{ ("x" * 200000) | replace("x", "yyyyyyyyyy") | length }}',
    '{{ ("x" * 200000).replace("x", "yyyyyyyyyy") | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | center(5) | length }}',
    '{% set a = "x".ljust(200000) %}{{ [a, a, a, a, a, a] | map("upper") | list | length }}',
    '{{ range(10000) | map("string") | map("center", 1000) | join | length }}',
])
def test_shared_references_cannot_build_huge_text(text: str) -> None:
    """A list holding one big string many times costs only references until it is
    printed or joined: that must be refused before the text is built (not after)."""
    with pytest.raises(TemplateError, match="grew past"):
        render_text(text, CTX)


def test_filters_taking_the_environment_still_work() -> None:
    assert render_text('{{ "abcdef ghij" | truncate(9, leeway=0) }}', CTX) == "abcdef..."
    assert render_text('{{ "abc def" | wordwrap(3) }}', CTX) == "abc\ndef"
    assert render_text('{{ [1, 2] | sum }} {{ input.items | map(attribute="n") | join("-") }}',
                       CTX) == "3 a-b"


def test_secret_index_from_data_cannot_become_an_expression() -> None:
    """secrets[input.x]: data picking a name must not smuggle a JMESPath expression
    (`a || secrets.other`) into the placeholder the executor evaluates."""
    ctx = {**CTX, "input": {"which": "nope || secrets.other"}}
    with pytest.raises(TemplateError, match="not a secret name"):
        render("{% if 1 %}{{ secrets[input.which] }}{% endif %}", ctx, keep_secrets=True)
    ok = render("{% if 1 %}{{ secrets[input.which] }}{% endif %}",
                {**CTX, "input": {"which": "api_2"}}, keep_secrets=True)
    assert fill_secrets(ok, {"api_2": "V"}) == "V"


def test_measuring_does_not_refuse_data_that_prints_within_the_limit() -> None:
    rows = [{"n": i, "ok": True, "v": None} for i in range(7000)]  # ~200 KB of JSON
    ctx = {**CTX, "steps": {"parse": {"rows": rows}}}
    assert len(render_text("{{ steps.parse.rows | tojson }}{% if 1 %}{% endif %}", ctx)) < (
        MAX_RENDERED_CHARS)
    text = "{% for b in steps.parse.rows | batch(100) %}{% endfor %}{{ steps.parse.rows }}"
    assert render_text(text, ctx).startswith('[{"n":0,')


def test_per_item_output_counts_containers_it_makes() -> None:
    """map("list") turns each shared 20 KB string into a new 20,000-item list."""
    text = '{% set a = "x".ljust(20000) %}{{ [a, a, a, a, a] | map("list") | map("length") ' \
           '| sum }}'
    with pytest.raises(TemplateError, match="grew past"):
        render_text(text, CTX)
    assert render_text('{{ ["ab", "c"] | map("list") | map("length") | sum }}', CTX) == "3"
