"""Jinja text templates (loops, conditionals) in a sandbox with reference 004's limits.

Why Jinja: one well-known language for message bodies and output templates;
JMESPath stays the expression language (steps/templates.py). The sandbox
(ImmutableSandboxedEnvironment) refuses attribute access to internals and
mutation of data; on top of it:

- no import/include/extends: the loader refuses every name;
- at most MAX_LOOP_ITERATIONS loop iterations per render in total (nested
  loops and recursive loops included): every `for` iterable is wrapped in a
  counting guard when the template is compiled (an AST rewrite);
- macro (and recursive loop) calls nested at most MAX_CALL_DEPTH deep, and at
  most MAX_CALLS of them per render in total;
- no value or output larger than MAX_RENDERED_CHARS: `*`, `**`, `%`, `+`
  and `~` are checked before they build anything big, and so are filters
  and string methods given huge sizes; str.format is unavailable;
- a template text over MAX_TEMPLATE_BYTES is refused (at save, by `check`).

Secrets: with `keep_secrets`, `{{ secrets.name }}` renders as the fenced
placeholder the step executor fills (steps/templates.py); every other
printed value has its NUL characters replaced, so data cannot forge one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

import orjson
from jinja2 import BaseLoader, ChainableUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateNotFound, TemplateSyntaxError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from steps.base import scalar_text

MAX_TEMPLATE_BYTES = 64 * 1024
MAX_RENDERED_CHARS = 256 * 1024
MAX_LOOP_ITERATIONS = 500
MAX_CALL_DEPTH = 50
# Macro (and recursive loop) calls per render in total: depth alone does not bound them
# (a macro calling itself twice, 30 deep, is 2**30 calls: hours of the run agent's CPU).
MAX_CALLS = 5000
MAX_FORMAT_WIDTH = 9999
MAX_RANGE = 10_000
FENCE = "\x00"
_NUL_FREE = "\ufffd"
_JINJA_MARKERS = ("{%", "{#")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIZED_FILTERS = ("center", "indent", "batch", "slice", "wordwrap", "truncate")
_PER_ITEM_FILTERS = ("map", "select", "reject", "selectattr", "rejectattr")
# filters that never turn a container into text (the rest are measured first, _measured)
_NON_PRINTING_FILTERS = frozenset((
    "abs", "attr", "bool", "count", "d", "default", "dictsort", "first", "float",
    "groupby", "int", "items", "last", "length", "list", "map", "max", "min", "random",
    "reject", "rejectattr", "reverse", "round", "select", "selectattr", "sort", "unique"))


class TemplateError(ValueError):
    """A template that does not compile or cannot be rendered within its limits."""


def is_jinja(text: str) -> bool:
    """The rule: a string with a `{%` tag or a `{#` comment is a Jinja template."""
    return "{%" in text or "{#" in text


@dataclass
class _Budget:
    loops: int = 0
    depth: int = 0
    calls: int = 0


_BUDGET: ContextVar[_Budget | None] = ContextVar("hopflow_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # rendered outside render(): give it a budget of its own
        budget = _Budget()
        _BUDGET.set(budget)
    return budget


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every loop iterates through this: one shared count per render."""
    budget = _budget()
    for item in iterable:
        budget.loops += 1
        if budget.loops > MAX_LOOP_ITERATIONS:
            raise TemplateError(f"loops ran more than {MAX_LOOP_ITERATIONS} iterations")
        yield item


def _too_big(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_RENDERED_CHARS:
        raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")
    return value


def _fits(value: Any, limit: int = MAX_RENDERED_CHARS) -> Any:
    """`value` if it would print within `limit` characters, else TemplateError."""
    if isinstance(value, list | tuple | dict):
        _measure(value, limit)
    return value


def _measure(value: Any, limit: int) -> int:
    """How many characters `value` prints at least; TemplateError past `limit`.

    A list may hold the same 256 KB string a thousand times for the cost of its
    references; printing it (or `join`, `string`, `tojson`...) would build the
    whole text before any check on the result. So containers are measured first
    (shared items counted each time), stopping as soon as the limit is passed.
    """
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 2 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            size += 1 + len(item)  # brackets and commas, never more than JSON prints
            stack.extend(item)
        else:  # a number, true, null: at least a character (a lower bound is enough
            size += 1  # to stop amplification; the rendered text is checked after)
        if size > limit:
            raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")
    return size


def _concat(*parts: Any) -> str:
    """`a ~ b`: a kept secret placeholder stays one; NULs from data are replaced."""
    fenced = False
    texts = []
    for part in parts:
        if type(part) is _Fenced:
            fenced = True
            texts.append(part)
        else:
            text = _printable(part)
            texts.append(text.replace(FENCE, _NUL_FREE) if FENCE in text else text)
    joined = _too_big("".join(texts))
    return _Fenced(joined) if fenced else joined


def _check_percent_format(fmt: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_FORMAT_WIDTH):
                raise TemplateError(f"format width over {MAX_FORMAT_WIDTH} refused")


def _range(*args: int) -> range:
    """range() for loops and small lists; larger ones are refused before they exist."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateError(f"range of {len(numbers)} items refused (at most {MAX_RANGE}; "
                            f"loops run at most {MAX_LOOP_ITERATIONS} iterations)")
    return numbers


def _sized(name: str, filter_: Any) -> Any:
    """A built-in filter refusing integer arguments past the size limit."""
    @wraps(filter_)  # keeps jinja_pass_arg (truncate and wordwrap take the environment)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args[1:], *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > 1000:
                raise TemplateError(f"filter {name}: argument {arg} is too large (max 1000)")
        if args and name not in ("batch", "slice"):
            _fits(args[0])  # center/indent/wordwrap/truncate print a list given one
        return filter_(*args, **kwargs)
    return guarded


def _bounded(items: Iterable[Any]) -> Iterator[Any]:
    """A per-item filter's output, stopped once its items would print past the limit.

    map("upper") or map("center", 1000) over a list of shared or tiny items makes new
    values lazily; whatever consumes them (join, list, a loop) would build them all.
    """
    used = 0
    for item in items:
        used += len(item) if isinstance(item, str) else _measure(item, MAX_RENDERED_CHARS - used)
        if used > MAX_RENDERED_CHARS:
            raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")
        yield item


def _per_item(filter_: Any) -> Any:
    """map/select/reject...: their lazy output is bounded (_bounded)."""
    @wraps(filter_)  # keeps jinja_pass_arg (map and select take the context)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(filter_(*args, **kwargs))
    return guarded


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    """str.replace (method or filter) refused before it builds an oversized string."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        times = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        if len(text) + times * max(0, len(new) - len(old)) > MAX_RENDERED_CHARS:
            raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")


def _measured(name: str, filter_: Any) -> Any:
    """A built-in filter whose arguments are measured first (it may print a container)."""
    @wraps(filter_)  # keeps jinja_pass_arg (pass_environment, pass_eval_context)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            _fits(arg)
        if name == "replace" and len(args) >= 3:
            _check_replace(str(args[0]), *args[1:4])
        return _too_big(filter_(*args, **kwargs))
    return guarded


def _printable(value: Any) -> str:
    """How a value prints: JSON-ish like `{{path}}` placeholders (None is empty)."""
    text = scalar_text(value)
    if text is not None:
        return text
    if isinstance(value, ChainableUndefined):
        return ""
    _fits(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


class _Fenced(str):
    """A kept secret placeholder: printed as is, NULs and all."""


class SecretFences:
    """The `secrets` variable when secrets are kept: `secrets.x` -> the fenced placeholder."""

    def __getattr__(self, name: str) -> _Fenced:
        if name.startswith("_"):
            raise AttributeError(name)
        if not _SECRET_NAME.match(name):  # secrets[data]: no JMESPath reaches the executor
            raise TemplateError(f"{name[:40]!r} is not a secret name")
        return _Fenced(f"{FENCE}{{{{secrets.{name}}}}}{FENCE}")

    def __getitem__(self, name: str) -> _Fenced:
        return self.__getattr__(str(name))


def _finalize(value: Any) -> str:
    if type(value) is _Fenced:
        return value
    text = _printable(value)
    return text.replace(FENCE, _NUL_FREE) if FENCE in text else text


class _RefuseAll(BaseLoader):
    """No include, import or extends: no template can reach another."""

    def get_source(self, environment: Any, template: str) -> Any:
        raise TemplateNotFound(f"{template} (include, import and extends are disabled)")


class _GuardLoops(NodeTransformer):
    """Rewrites the parsed template: loops counted, `~` concatenations size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name("__hf_loop", "load"), [node.iter], [], None, None)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.Name("__hf_concat", "load"), list(node.nodes), [], None, None)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with hopflow's limits (see the module docstring)."""

    intercepted_binops = frozenset(["*", "**", "%", "+"])

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _GuardLoops().visit(tree)  # type: ignore[no-any-return]

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`a.items` reads the key "items" of JSON data, not the dict method."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * times > MAX_RENDERED_CHARS):
                    raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")
                if isinstance(seq, list | tuple) and isinstance(times, int) and times > 1:
                    _fits(seq, MAX_RENDERED_CHARS // times)
        elif operator == "**":
            if (isinstance(right, int | float) and abs(right) > 100
                    and isinstance(left, int | float) and abs(left) > 1):
                raise TemplateError("exponent too large (max 100)")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
            _fits(right)
        return _too_big(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Any:
        """str.format/format_map: refused (their widths could build huge strings)."""
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args: Any, **kwargs: Any) -> str:
            raise SecurityError("str.format is not available in templates; use ~ or |format")
        return refused

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if (isinstance(arg, int) and not isinstance(arg, bool)
                    and abs(arg) > MAX_RENDERED_CHARS and hasattr(__obj, "__self__")
                    and isinstance(__obj.__self__, str)):
                raise TemplateError(f"argument {arg} is too large")
        if hasattr(__obj, "__self__") and isinstance(__obj.__self__, str):
            for arg in (*args, *kwargs.values()):
                _fits(arg)  # "".join(a list), "%s".__mod__ ...
            if getattr(__obj, "__name__", "") == "replace" and args:
                _check_replace(__obj.__self__, *args[:3])
            if getattr(__obj, "__name__", "") == "expandtabs":
                width = (args or (kwargs.get("tabsize", 8),))[0]
                if isinstance(width, int) and __obj.__self__.count("\t") * width > (
                        MAX_RENDERED_CHARS):
                    raise TemplateError(f"a value grew past {MAX_RENDERED_CHARS} characters")
        if isinstance(__obj, Macro | LoopContext):
            budget = _budget()
            budget.calls += 1
            if budget.calls > MAX_CALLS:
                raise TemplateError(f"more than {MAX_CALLS} macro calls in one render")
            budget.depth += 1
            try:
                if budget.depth > MAX_CALL_DEPTH:
                    raise TemplateError(f"calls nested deeper than {MAX_CALL_DEPTH}")
                if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
                    args = (_loop_guard(args[0]), *args[1:])
                return super().call(__context, __obj, *args, **kwargs)
            finally:
                budget.depth -= 1
        return _too_big(super().call(__context, __obj, *args, **kwargs))


def _environment() -> _Sandbox:
    env = _Sandbox(loader=_RefuseAll(), autoescape=False, undefined=ChainableUndefined,
                   finalize=_finalize, keep_trailing_newline=True)
    env.globals = {"range": _range, "namespace": env.globals["namespace"],
                   "dict": env.globals["dict"], "__hf_loop": _loop_guard,
                   "__hf_concat": _concat}
    for name in _SIZED_FILTERS:
        env.filters[name] = _sized(name, env.filters[name])
    for name in set(env.filters) - _NON_PRINTING_FILTERS - set(_SIZED_FILTERS) - {"format"}:
        env.filters[name] = _measured(name, env.filters[name])
    for name in _PER_ITEM_FILTERS:
        env.filters[name] = _per_item(env.filters[name])
    fmt = env.filters["format"]

    def format_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_percent_format(str(value))
        for arg in (*args, *kwargs.values()):
            _fits(arg)
        return _too_big(fmt(value, *args, **kwargs))

    env.filters["format"] = format_filter
    return env


_ENV = _environment()


@lru_cache(maxsize=1024)
def compile_text(text: str) -> Any:
    """The compiled template (cached by text); TemplateError for a bad or oversized one."""
    if len(text.encode()) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"template larger than {MAX_TEMPLATE_BYTES // 1024} KB")
    try:
        return _ENV.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}"
                            ) from None


def render_text(text: str, context: dict[str, Any], *, keep_secrets: bool = False) -> str:
    """Render with the limits; every failure is a TemplateError."""
    template = compile_text(text)
    variables = dict(context)
    if keep_secrets:
        variables["secrets"] = SecretFences()
    token = _BUDGET.set(_Budget())
    try:
        size = 0
        chunks = []
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise TemplateError(f"rendered text longer than {MAX_RENDERED_CHARS} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc}") from None
    except RecursionError:
        raise TemplateError("template recursion too deep") from None
    except Exception as exc:  # a template's runtime error is the template's, not the worker's
        raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None
    finally:
        _BUDGET.reset(token)
