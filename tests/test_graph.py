import pytest

from steps.graph import InvalidDefinition, compile_definition, validate_workflow


def fields(definition: dict) -> list[str]:
    with pytest.raises(InvalidDefinition) as info:
        validate_workflow(definition)
    return [issue.field for issue in info.value.issues]


def step(step_id: str, type_: str = "transform", **config) -> dict:
    config = config or ({"fields": {}} if type_ == "transform" else config)
    return {"id": step_id, "type": type_, "config": config}


def test_linear_order_and_next_override() -> None:
    graph = compile_definition({"steps": [step("a"), step("b"), step("c")]})
    assert graph.initial == "a"
    assert graph.successor("a", {}, {}) == "b"
    assert graph.successor("c", {}, {}) is None
    graph = compile_definition({"steps": [{**step("a"), "next": "c"}, step("b"),
                                          {**step("c"), "next": None}]})
    assert graph.successor("a", {}, {}) == "c"
    assert graph.successor("c", {}, {}) is None


def test_condition_branches() -> None:
    graph = compile_definition({"steps": [
        step("is", "condition", field="input.x", op="equals", value=1, then="yes",
             **{"else": "no"}),
        step("yes"), step("no")]})
    assert graph.successor("is", {"matched": True}, {}) == "yes"
    assert graph.successor("is", {"matched": False}, {}) == "no"


def test_graph_form_edges_with_conditions() -> None:
    graph = compile_definition({"initialStep": "b", "steps": [step("a"), step("b"), step("c")],
                                "edges": [{"from": "b", "to": "a",
                                           "condition": {"field": "input.go", "op": "truthy"}},
                                          {"from": "b", "to": "c"}]})
    assert graph.initial == "b"
    assert graph.successor("b", {}, {"input": {"go": True}}) == "a"
    assert graph.successor("b", {}, {"input": {"go": False}}) == "c"
    assert graph.successor("a", {}, {}) is None


def test_validation_names_the_field() -> None:
    assert fields({"steps": []}) == ["name"]
    assert fields({"name": "x", "steps": [step("a", "teleport")]}) == ["steps[0].type"]
    assert fields({"name": "x", "steps": [step("a"), step("a")]}) == ["steps[1].id"]
    assert fields({"name": "x", "initialStep": "a", "steps": [step("a")],
                   "edges": [{"from": "a", "to": "ghost"}]}) == ["edges[0].to"]
    assert fields({"name": "x", "steps": [step("a", "webhook", method="POST")]}) == \
        ["steps[0].config.url"]
    assert fields({"name": "x", "steps": [
        step("c", "condition", field="input.x", op="equals", value=1, then="nowhere")]}) == \
        ["steps[0].config.then"]
    assert fields({"name": "x", "steps": [step("d", "delay")]}) == ["steps[0].config.seconds"]
    assert fields({"name": "x", "retry": {"max_retries": 99}, "steps": []}) == \
        ["retry.max_retries"]


def test_cycles_need_a_delay() -> None:
    loop = {"name": "x", "initialStep": "a", "steps": [step("a"), step("b")],
            "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}
    assert fields(loop) == ["edges"]
    loop["steps"].append(step("wait", "delay", seconds=1))
    loop["edges"] = [{"from": "a", "to": "wait"}, {"from": "wait", "to": "b"},
                     {"from": "b", "to": "a"}]
    validate_workflow(loop)  # a delay in the loop bounds it
