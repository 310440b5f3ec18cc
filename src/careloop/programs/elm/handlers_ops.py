"""Logic, comparison, arithmetic, string and conditional operators."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from careloop.programs.elm import ops
from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmLibrary,
    ElmRuntimeError,
    Env,
    Fn,
    Node,
    handler,
    named_pair,
    with_separator,
)
from careloop.programs.elm.values import unwrap


def unary_op(compiler: Compiler, node: Node, lib: ElmLibrary, op: Callable[[Any], Any]) -> Fn:
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return op(arg(ctx, env))

    return fn


def binary_op(compiler: Compiler, node: Node, lib: ElmLibrary, op: Callable[[Any, Any], Any]) -> Fn:
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return op(left(ctx, env), right(ctx, env))

    return fn


def _nullsafe(op: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return op(*(unwrap(a) for a in args))

    return wrapped


def _short_circuit(compiler: Compiler, node: Node, lib: ElmLibrary, *, decisive: bool) -> Fn:
    """CQL's three-valued And (``decisive=False``) and Or (``decisive=True``): the right side
    is not evaluated once the left decides; otherwise null wins over the other value."""
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        a = left(ctx, env)
        if a is decisive:
            return decisive
        b = right(ctx, env)
        if b is decisive:
            return decisive
        return None if a is None or b is None else not decisive

    return fn


@handler("And")
def and_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return _short_circuit(compiler, node, lib, decisive=False)


@handler("Or")
def or_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return _short_circuit(compiler, node, lib, decisive=True)


@handler("Xor")
def xor(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, _nullsafe(lambda a, b: a != b))


@handler("Implies")
def implies(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, lambda a, b: ops.or3(ops.not3(a), b))


@handler("Not")
def not_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, ops.not3)


@handler("IsNull")
def is_null(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, lambda a: a is None)


@handler("IsTrue")
def is_true(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, lambda a: a is True)


@handler("IsFalse")
def is_false(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, lambda a: a is False)


@handler("Equal")
def equal(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, ops.equal)


@handler("NotEqual")
def not_equal(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, lambda a, b: ops.not3(ops.equal(a, b)))


@handler("Equivalent")
def equivalent(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, ops.equivalent)


def _ordering(test: Callable[[int], bool]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        order = ops.compare(a, b)
        return None if order is None else test(order)

    return compare


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "Less": lambda o: o < 0,
    "LessOrEqual": lambda o: o <= 0,
    "Greater": lambda o: o > 0,
    "GreaterOrEqual": lambda o: o >= 0,
}


@handler(*_ORDER_TESTS)
def ordering(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, _ordering(_ORDER_TESTS[str(node["type"])]))


_QUANTITY_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "Add": ops.add,
    "Subtract": ops.subtract,
    "Multiply": ops.multiply,
    "Divide": ops.divide,
}
"""Operators ``ops`` defines over numbers, quantities and date-times (null handled there)."""


@handler(*_QUANTITY_ARITHMETIC)
def quantity_arithmetic(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    op = _QUANTITY_ARITHMETIC[str(node["type"])]
    return binary_op(compiler, node, lib, lambda a, b: op(unwrap(a), unwrap(b)))


def _truncated_divide(a: Any, b: Any) -> Any:
    return None if b == 0 else int(a / b)


def _modulo(a: Any, b: Any) -> Any:
    return None if b == 0 else math.fmod(a, b) if isinstance(a, float) else a - b * int(a / b)


_ARITHMETIC: dict[str, Callable[..., Any]] = {
    "TruncatedDivide": _nullsafe(_truncated_divide),
    "Modulo": _nullsafe(_modulo),
    "Power": _nullsafe(lambda a, b: a**b),
    "Log": _nullsafe(lambda a, b: math.log(a, b) if a > 0 and b > 0 else None),
}
_UNARY_MATH: dict[str, Callable[[Any], Any]] = {
    "Negate": _nullsafe(lambda a: ops.multiply(a, -1)),
    "Abs": _nullsafe(abs),
    "Floor": _nullsafe(math.floor),
    "Ceiling": _nullsafe(math.ceil),
    "Truncate": _nullsafe(math.trunc),
    "Ln": _nullsafe(lambda a: math.log(a) if a > 0 else None),
    "Exp": _nullsafe(math.exp),
    "Upper": _nullsafe(str.upper),
    "Lower": _nullsafe(str.lower),
    "Length": _nullsafe(len),
}


@handler(*_ARITHMETIC)
def arithmetic(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return binary_op(compiler, node, lib, _ARITHMETIC[str(node["type"])])


@handler(*_UNARY_MATH)
def unary_math(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, _UNARY_MATH[str(node["type"])])


@handler("Round")
def round_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    args = compiler.operands(node, lib)
    places = compiler.compile(node.get("precision"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        value = args[0](ctx, env)
        digits = places(ctx, env) or 0
        if value is None:
            return None
        scaled = math.floor(value * 10**digits + 0.5)
        return scaled / 10**digits if digits else float(scaled)

    return fn


@handler("Concatenate")
def concatenate(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    parts = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        values = [p(ctx, env) for p in parts]
        return None if any(v is None for v in values) else "".join(str(v) for v in values)

    return fn


def _combine(items: Any, separator: Any) -> str:
    return (separator or "").join(str(i) for i in items if i is not None)


def _split(value: Any, separator: Any) -> list[Any]:
    return [value] if not separator else value.split(separator)


@handler("Combine")
def combine(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return with_separator(compiler, node, lib, "source", _combine)


@handler("Split")
def split(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return with_separator(compiler, node, lib, "stringToSplit", _split)


@handler("StartsWith", "EndsWith", "Matches")
def string_test(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    kind = node["type"]
    tests: dict[str, Callable[[str, str], bool]] = {
        "StartsWith": str.startswith,
        "EndsWith": str.endswith,
        "Matches": lambda s, p: re.fullmatch(p, s) is not None,
    }
    return binary_op(compiler, node, lib, _nullsafe(tests[str(kind)]))


@handler("Substring")
def substring(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    text = compiler.compile(node["stringToSub"], lib)
    start = compiler.compile(node["startIndex"], lib)
    length = compiler.compile(node.get("length"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        value, begin, size = text(ctx, env), start(ctx, env), length(ctx, env)
        if value is None or begin is None or begin < 0 or begin >= len(value):
            return None
        return value[begin:] if size is None else value[begin : begin + size]

    return fn


@handler("PositionOf")
def position_of(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return named_pair(compiler, node, lib, ("pattern", "string"), lambda p, s: s.find(p))


@handler("If")
def if_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    condition = compiler.compile(node["condition"], lib)
    then = compiler.compile(node["then"], lib)
    otherwise = compiler.compile(node.get("else"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        return then(ctx, env) if condition(ctx, env) is True else otherwise(ctx, env)

    return fn


@handler("Case")
def case(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    comparand = compiler.compile(node["comparand"], lib) if "comparand" in node else None
    items = [
        (compiler.compile(i["when"], lib), compiler.compile(i["then"], lib))
        for i in node["caseItem"]
    ]
    otherwise = compiler.compile(node.get("else"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        if comparand is None:
            for when, then in items:
                if when(ctx, env) is True:
                    return then(ctx, env)
        else:
            subject = comparand(ctx, env)
            for when, then in items:
                if ops.equal(subject, when(ctx, env)) is True:
                    return then(ctx, env)
        return otherwise(ctx, env)

    return fn


@handler("Coalesce")
def coalesce(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    args = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        if len(args) == 1:
            values = args[0](ctx, env)
            if isinstance(values, list):
                return next((v for v in values if v is not None), None)
            return values
        for arg in args:
            value = arg(ctx, env)
            if value is not None:
                return value
        return None

    return fn


@handler("Message")
def message(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    source = compiler.compile(node.get("source"), lib)
    condition = compiler.compile(node.get("condition"), lib)
    code = compiler.compile(node.get("code"), lib)
    severity = compiler.compile(node.get("severity"), lib)
    text = compiler.compile(node.get("message"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        value = source(ctx, env)
        if condition(ctx, env) is True and str(severity(ctx, env)).lower() == "error":
            raise ElmRuntimeError(f"{code(ctx, env)}: {text(ctx, env)}")
        return value

    return fn
