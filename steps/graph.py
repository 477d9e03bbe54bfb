"""A workflow definition, validated and compiled to one graph of steps.

Both shapes users know compile to the same graph: a linear `steps` list
(optionally with `next` and condition `then`/`else` jumps) and the
`initialStep` + `steps` + `edges` form. The run agent only asks the graph
"which step comes after this one?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from steps import concurrency, condition, file_trigger, registry
from steps.base import Issue
from steps.templates import TemplateError, check
from steps.text_template import compile_text

MAX_STEPS = 200
MAX_RETRIES = 5  # reference 004's ceiling (MaxRetryCount <= 5); more is a 400 at save
RETRY_AFTER_CAP_SECONDS = 3600.0  # a peer's Retry-After is honoured up to an hour
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_END = object()


class InvalidDefinition(ValueError):
    """The definition has problems; `issues` names each field."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class RetryPolicy:
    """Retries after the first attempt, with exponential backoff."""

    max_retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Wait before `attempt` + 1 (attempt counts from 1)."""
        return min(self.backoff_seconds * (2 ** (attempt - 1)), self.max_backoff_seconds)

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """The backoff, or longer when the peer asked (Retry-After, capped at an hour)."""
        backoff = self.delay(attempt)
        if retry_after is None or retry_after <= 0:
            return backoff
        return max(backoff, min(retry_after, RETRY_AFTER_CAP_SECONDS))


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    config: dict[str, Any]
    name: str | None = None
    next: Any = _END  # _END: not given; None: end the run; str: a step id
    output_template: str | None = None  # Jinja text rendered into output["rendered"]


@dataclass
class Graph:
    steps: dict[str, Step]
    order: list[str]
    initial: str | None
    edges: dict[str, list[tuple[dict[str, Any] | None, str]]] = field(default_factory=dict)
    graph_form: bool = False
    retry: RetryPolicy = RetryPolicy()

    def successor(self, step_id: str, output: Any, context: dict[str, Any]) -> str | None:
        """The step after `step_id` given its output, or None when the run ends."""
        step = self.steps[step_id]
        if step.type == "condition":
            branch = "then" if (output or {}).get("matched") else "else"
            if branch in step.config:
                return step.config[branch]
        if step.next is not _END:
            return step.next
        if self.graph_form:
            for rule, target in self.edges.get(step_id, []):
                if rule is None or condition.evaluate(rule, context):
                    return target
            return None
        index = self.order.index(step_id) + 1
        return self.order[index] if index < len(self.order) else None

    def targets(self, step_id: str) -> set[str]:
        """Every step that may follow `step_id` (for cycle checks); mirrors successor()."""
        step = self.steps[step_id]
        out: set[str] = set()
        if _waits(step) and isinstance(step.config.get("on_timeout"), str):
            out.add(step.config["on_timeout"])
        elif registry.get(step.type).kind == "end":
            return out
        branches_decide = False
        if step.type == "condition":
            out.update(t for b in ("then", "else") if (t := step.config.get(b)))
            branches_decide = "then" in step.config and "else" in step.config
        if branches_decide:
            return out
        if step.next is not _END:
            out.update([step.next] if step.next else [])
        elif self.graph_form:
            out.update(t for _, t in self.edges.get(step_id, []))
        else:
            index = self.order.index(step_id) + 1
            out.update(self.order[index:index + 1])
        return out


def _waits(step: Step) -> bool:
    """A delay or a human step: a loop through it waits, so it cannot spin."""
    return registry.get(step.type).kind in ("delay", "human")


def _retry(raw: Any, issues: list[Issue]) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if not isinstance(raw, dict):
        issues.append(Issue("retry", "must be an object"))
        return RetryPolicy()
    max_retries = raw.get("max_retries", 3)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not (
            0 <= max_retries <= MAX_RETRIES):
        issues.append(Issue("retry.max_retries", f"must be an integer from 0 to {MAX_RETRIES}"))
        max_retries = 3
    values = {}
    for key, default in (("backoff_seconds", 1.0), ("max_backoff_seconds", 300.0)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0 <= value <= 86400):
            issues.append(Issue(f"retry.{key}", "must be a number of seconds from 0 to 86400"))
            value = default
        values[key] = float(value)
    return RetryPolicy(max_retries, values["backoff_seconds"], values["max_backoff_seconds"])


def _steps(raw: Any, issues: list[Issue]) -> dict[str, Step]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        issues.append(Issue("steps", "must be an array of step objects"))
        return {}
    if len(raw) > MAX_STEPS:
        issues.append(Issue("steps", f"at most {MAX_STEPS} steps per workflow"))
        return {}
    steps: dict[str, Step] = {}
    for i, item in enumerate(raw):
        where = f"steps[{i}]"
        if not isinstance(item, dict):
            issues.append(Issue(where, "must be an object"))
            continue
        step_id = item.get("id")
        if not isinstance(step_id, str) or not _ID.match(step_id):
            issues.append(Issue(f"{where}.id", "is required: letters, digits, _ . - (max 64)"))
            continue
        if step_id in steps:
            issues.append(Issue(f"{where}.id", f"duplicate step id {step_id!r}"))
            continue
        type_name = item.get("type")
        if not isinstance(type_name, str) or type_name not in registry.STEP_TYPES:
            issues.append(Issue(f"{where}.type",
                                f"unknown step type {type_name!r}; known: {registry.known()}"))
            continue
        config = item.get("config", {})
        if not isinstance(config, dict):
            issues.append(Issue(f"{where}.config", "must be an object"))
            continue
        module = registry.get(type_name)
        for key in getattr(module, "STEP_LEVEL", ()):  # 003 writes some config keys there
            if key in item and key not in config:
                config = {**config, key: item[key]}
        issues.extend(module.validate(config, f"{where}.config"))
        nxt = item.get("next", _END)
        if nxt is not _END and nxt is not None and not isinstance(nxt, str):
            issues.append(Issue(f"{where}.next", "must be a step id or null"))
            nxt = _END
        name = item.get("name")
        template = item.get("output_template")
        if template is not None:
            if not isinstance(template, str):
                issues.append(Issue(f"{where}.output_template", "must be a string (Jinja text)"))
                template = None
            else:
                try:
                    compile_text(template)
                except TemplateError as exc:
                    issues.append(Issue(f"{where}.output_template", str(exc)))
        steps[step_id] = Step(step_id, type_name, config, name if isinstance(name, str) else None,
                              nxt, template)
    return steps


def _references(steps: dict[str, Step], raw_steps: list[Any], issues: list[Issue]) -> None:
    index = {s.get("id"): i for i, s in enumerate(raw_steps)  # ids are hashable strings
             if isinstance(s, dict) and isinstance(s.get("id"), str)}
    for step in steps.values():
        where = f"steps[{index[step.id]}]"
        if isinstance(step.next, str) and step.next not in steps:
            issues.append(Issue(f"{where}.next", f"no step with id {step.next!r}"))
        if step.type == "condition":
            for branch in ("then", "else"):
                target = step.config.get(branch)
                if target is not None and (not isinstance(target, str) or target not in steps):
                    issues.append(Issue(f"{where}.config.{branch}",
                                        f"no step with id {target!r}"))
        target = step.config.get("on_timeout")
        if isinstance(target, str) and target not in steps and _waits(step):
            issues.append(Issue(f"{where}.config.on_timeout", f"no step with id {target!r}"))


def _edges(raw: Any, steps: dict[str, Step], issues: list[Issue]
           ) -> dict[str, list[tuple[dict[str, Any] | None, str]]]:
    edges: dict[str, list[tuple[dict[str, Any] | None, str]]] = {}
    if not isinstance(raw, list):
        issues.append(Issue("edges", "must be an array of {from, to} objects"))
        return edges
    for i, edge in enumerate(raw):
        where = f"edges[{i}]"
        if not isinstance(edge, dict):
            issues.append(Issue(where, "must be an object with from and to"))
            continue
        ok = True
        for end in ("from", "to"):
            if not isinstance(edge.get(end), str) or edge.get(end) not in steps:
                issues.append(Issue(f"{where}.{end}", f"dangling edge: no step with id "
                                                      f"{edge.get(end)!r}"))
                ok = False
        rule = edge.get("condition")
        if rule is not None:
            rule_issues = condition.validate_rule(rule, f"{where}.condition")
            issues.extend(rule_issues)
            ok = ok and not rule_issues
        if ok:
            edges.setdefault(edge["from"], []).append((rule, edge["to"]))
    return edges


def _cycles_without_delay(graph: Graph) -> list[list[str]]:
    """Strongly connected components that loop and contain no delay (or human) step."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:  # Tarjan; graphs are at most MAX_STEPS nodes
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.targets(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            loops = len(component) > 1 or node in graph.targets(node)
            if loops and not any(_waits(graph.steps[m]) for m in component):
                found.append(sorted(component, key=graph.order.index))

    for node in graph.order:
        if node not in index:
            visit(node)
    return found


def compile_definition(definition: dict[str, Any]) -> Graph:
    """Validate and compile; raises InvalidDefinition naming every bad field."""
    issues: list[Issue] = []
    raw_steps = definition.get("steps") or []
    steps = _steps(definition.get("steps"), issues)
    if isinstance(raw_steps, list):
        _references(steps, raw_steps, issues)
    graph_form = "edges" in definition or "initialStep" in definition
    edges = _edges(definition.get("edges") or [], steps, issues) if graph_form else {}
    order = list(steps)
    initial = definition.get("initialStep") if graph_form else None
    if initial is None:
        initial = order[0] if order else None
    elif not isinstance(initial, str) or initial not in steps:
        issues.append(Issue("initialStep", f"no step with id {initial!r}"))
    retry = _retry(definition.get("retry"), issues)
    graph = Graph(steps, order, initial, edges, graph_form, retry)
    if not issues:
        for cycle in _cycles_without_delay(graph):
            issues.append(Issue("edges" if graph_form else "steps",
                                f"cycle {' -> '.join(cycle)} has no delay step; "
                                "add a delay to the loop"))
    if issues:
        raise InvalidDefinition(issues)
    return graph


def validate_workflow(body: Any) -> dict[str, Any]:
    """Check a create/update body and return the definition to store."""
    if not isinstance(body, dict):
        raise InvalidDefinition([Issue("body", "must be a JSON object")])
    issues: list[Issue] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(Issue("name", "is required"))
    elif len(name) > 250:
        issues.append(Issue("name", "at most 250 characters"))
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        issues.append(Issue("description", "must be a string of at most 1000 characters"))
    trigger = body.get("trigger", {"type": "manual"})
    if not isinstance(trigger, dict) or not isinstance(trigger.get("type", "manual"), str):
        issues.append(Issue("trigger", "must be an object with a type"))
    else:
        issues.extend(file_trigger.issues(trigger))
    try:
        check(body.get("output"))
    except TemplateError as exc:
        issues.append(Issue("output", str(exc)))
    issues.extend(concurrency.issues(body.get("concurrency")))
    try:
        compile_definition(body)
    except InvalidDefinition as exc:
        issues.extend(exc.issues)
    if issues:
        raise InvalidDefinition(issues)
    keep = ("name", "description", "trigger", "steps", "edges", "initialStep", "retry", "output",
            "concurrency")
    return {k: body[k] for k in keep if k in body}
