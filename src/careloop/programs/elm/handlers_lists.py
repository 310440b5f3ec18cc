"""List operators and aggregates; Union/Intersect/Except work on lists and on intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from careloop.programs.elm import intervals as iv
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
)
from careloop.programs.elm.values import Interval, Quantity, unwrap


def _source(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    if "source" in node:
        return compiler.compile(node["source"], lib)
    (arg,) = compiler.operands(node, lib)
    return arg


def _aggregate(
    compiler: Compiler, node: Node, lib: ElmLibrary, op: Callable[[list[Any]], Any]
) -> Fn:
    source = _source(compiler, node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        items = source(ctx, env)
        if items is None:
            return None
        return op(items)

    return fn


def _singleton(items: list[Any]) -> Any:
    if len(items) > 1:
        raise ElmRuntimeError("singleton from a list of more than one element")
    return items[0] if items else None


def _extreme(items: list[Any], sign: int) -> Any:
    best = None
    for item in items:
        item = unwrap(item)
        if item is None:
            continue
        if best is None or ops.compare(item, best) == sign:
            best = item
    return best


def _sum(items: list[Any]) -> Any:
    total = None
    for item in items:
        item = unwrap(item)
        if item is None:
            continue
        total = item if total is None else ops.add(total, item)
    return total


def _avg(items: list[Any]) -> Any:
    values = [unwrap(i) for i in items if i is not None]
    if not values:
        return None
    total = _sum(values)
    if isinstance(total, Quantity):
        return Quantity(total.value / len(values), total.unit)
    return total / len(values)


def _flatten(items: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in items:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


_AGGREGATES: dict[str, Callable[[list[Any]], Any]] = {
    "Exists": lambda items: any(i is not None for i in items),
    "Count": lambda items: sum(1 for i in items if i is not None),
    "First": lambda items: items[0] if items else None,
    "Last": lambda items: items[-1] if items else None,
    "SingletonFrom": _singleton,
    "Flatten": _flatten,
    "Distinct": ops.distinct,
    "Max": lambda items: _extreme(items, 1),
    "Min": lambda items: _extreme(items, -1),
    "Sum": _sum,
    "Avg": _avg,
    "AllTrue": lambda items: all(i is not False for i in items),
    "AnyTrue": lambda items: any(i is True for i in items),
}


@handler(*_AGGREGATES)
def aggregate(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    kind = str(node["type"])
    op = _AGGREGATES[kind]
    if kind in ("Exists", "Count"):
        source = _source(compiler, node, lib)

        def counting(ctx: Context, env: Env) -> Any:
            items = source(ctx, env)
            return op(items or [])

        return counting
    return _aggregate(compiler, node, lib, op)


@handler("ToList")
def to_list(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        value = arg(ctx, env)
        return [] if value is None else [value]

    return fn


def _set_operation(
    list_op: Callable[[list[Any], list[Any]], list[Any]],
    interval_op: Callable[[Any, Any], Any],
    *,
    null_is_empty: bool,
) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if isinstance(a, Interval) or isinstance(b, Interval):
            return interval_op(a, b)
        if a is None or b is None:
            if not null_is_empty:
                return None
            a, b = a or [], b or []
        return list_op(a, b)

    return apply


def _list_intersect(a: list[Any], b: list[Any]) -> list[Any]:
    return ops.distinct(x for x in a if any(ops.equal(x, y) is True for y in b))


def _list_except(a: list[Any], b: list[Any]) -> list[Any]:
    return ops.distinct(x for x in a if not any(ops.equal(x, y) is True for y in b))


_SET_OPS = {
    "Union": _set_operation(lambda a, b: ops.distinct([*a, *b]), iv.union, null_is_empty=True),
    "Intersect": _set_operation(_list_intersect, iv.intersect, null_is_empty=False),
    "Except": _set_operation(_list_except, iv.except_, null_is_empty=False),
}


@handler(*_SET_OPS)
def set_operation(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    op = _SET_OPS[str(node["type"])]
    args = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        result = args[0](ctx, env)
        for arg in args[1:]:
            result = op(result, arg(ctx, env))
        return result

    return fn


@handler("Indexer")
def indexer(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        items, index = left(ctx, env), right(ctx, env)
        if items is None or index is None or index < 0 or index >= len(items):
            return None
        return items[index]

    return fn


def _index_of(items: Any, wanted: Any) -> int:
    for index, item in enumerate(items):
        if ops.equal(item, wanted) is True:
            return index
    return -1


@handler("IndexOf")
def index_of(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return named_pair(compiler, node, lib, ("source", "element"), _index_of)
