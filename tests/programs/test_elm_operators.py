"""CQL's string, list and arithmetic operators as the ELM engine evaluates them: the answer
a measure author expects, and null wherever CQL says null."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import careloop.programs.elm.measure  # noqa: F401 - registers the node handlers
from careloop.programs.elm.compiler import Compiler, ElmLibrary, Node
from careloop.programs.elm.intervals import after, before, same_or_after, same_or_before

SYSTEM = "{urn:hl7-org:elm-types:r1}"


def lit(value: Any) -> Node:
    if value is None:
        return {"type": "Null"}
    kind = {str: "String", int: "Integer", float: "Decimal"}[type(value)]
    return {"type": "Literal", "valueType": SYSTEM + kind, "value": str(value)}


def items(*values: Any) -> Node:
    return {"type": "List", "element": [lit(v) for v in values]}


def run(node: Node) -> Any:
    fn = Compiler({}, {}).compile(node, ElmLibrary(name="Test", version=None))
    return fn(None, {})  # type: ignore[arg-type]  # literals need no patient context


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "Combine", "source": items("a", None, "b"), "separator": lit("-")}, "a-b"),
        ({"type": "Combine", "source": items("a", "b")}, "ab"),
        ({"type": "Combine", "source": lit(None), "separator": lit("-")}, None),
        ({"type": "Split", "stringToSplit": lit("a,b"), "separator": lit(",")}, ["a", "b"]),
        ({"type": "Split", "stringToSplit": lit("a,b")}, ["a,b"]),
        ({"type": "Split", "stringToSplit": lit(None), "separator": lit(",")}, None),
        ({"type": "PositionOf", "pattern": lit("c"), "string": lit("abc")}, 2),
        ({"type": "PositionOf", "pattern": lit("z"), "string": lit("abc")}, -1),
        ({"type": "PositionOf", "pattern": lit(None), "string": lit("abc")}, None),
        ({"type": "IndexOf", "source": items(1, 2, 3), "element": lit(3)}, 2),
        ({"type": "IndexOf", "source": items(1, 2), "element": lit(5)}, -1),
        ({"type": "IndexOf", "source": items(1, 2), "element": lit(None)}, None),
        ({"type": "Add", "operand": [lit(2), lit(3)]}, 5),
        ({"type": "Subtract", "operand": [lit(2), lit(3)]}, -1),
        ({"type": "Multiply", "operand": [lit(2), lit(3)]}, 6),
        ({"type": "Divide", "operand": [lit(3), lit(2)]}, 1.5),
        ({"type": "Add", "operand": [lit(2), lit(None)]}, None),
        ({"type": "ToDecimal", "operand": lit("2.5")}, 2.5),
        ({"type": "ToInteger", "operand": lit("7")}, 7),
        ({"type": "ToInteger", "operand": lit("seven")}, None),
    ],
)
def test_an_operator_gives_the_cql_answer(node: Node, expected: Any) -> None:
    assert run(node) == expected


@pytest.mark.parametrize(
    ("test", "a", "b", "expected"),
    [
        (before, 1, 2, True),
        (after, 2, 1, True),
        (after, 1, 2, False),
        (same_or_after, 2, 2, True),
        (same_or_before, 3, 2, False),
        (same_or_after, 3, 2, True),
        (after, None, 1, None),
        (same_or_after, 1, None, None),
    ],
)
def test_after_is_before_with_the_sides_swapped(
    test: Callable[[Any, Any], bool | None], a: Any, b: Any, expected: bool | None
) -> None:
    assert test(a, b) is expected
