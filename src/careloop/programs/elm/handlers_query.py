"""Queries, Retrieve over the patient's FHIR resources, property paths and terminology.

A Retrieve with a value set filter is one set intersection per resource (the value set is a
frozenset of ``(system, code)``) and is memoised per patient, so ``[Encounter: "Office
Visit"]`` written in five definitions is computed once.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from careloop.programs.elm import ops
from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmLibrary,
    ElmUnsupported,
    Env,
    Fn,
    Node,
    handler,
)
from careloop.programs.elm.fhir import (
    TEMPORAL_ELEMENTS,
    codes_of,
    get_path,
    local_name,
    primitive_converter,
    typed_primitive,
)
from careloop.programs.elm.values import Code, Typed, ValueSetValue, unwrap


def _static_type(compiler: Compiler, node: Node | None) -> str | None:
    """The FHIR type of an expression when the ELM shows it (an operand, a cast, an element)."""
    if node is None:
        return None
    kind = node.get("type")
    if kind == "OperandRef":
        return compiler.operand_types.get(str(node["name"]))
    if kind == "As":
        spec = node.get("asType") or (node.get("asTypeSpecifier") or {}).get("name")
        return local_name(str(spec)) if spec else None
    if kind == "Property":
        return TEMPORAL_ELEMENTS.get(str(node["path"]).rsplit(".", 1)[-1])
    return None


def _scope_reader(scope: str) -> Fn:
    def read(_ctx: Context, env: Env) -> Any:
        return env.get(scope)

    return read


@handler("Property")
def property_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    steps = str(node["path"]).split(".")
    spec = node.get("resultTypeSpecifier") or {}
    choice = "choice" in spec or spec.get("type") == "ChoiceTypeSpecifier"
    source: Fn
    source_node: Node | None = None
    if "scope" in node:
        source = _scope_reader(str(node["scope"]))
    else:
        source = compiler.compile(node.get("source"), lib)
        source_node = node.get("source")
    if steps == ["value"]:
        convert = primitive_converter(_static_type(compiler, source_node))

        def primitive(ctx: Context, env: Env) -> Any:
            value = source(ctx, env)
            if isinstance(value, Typed):
                return typed_primitive(value)
            value = get_path(value, "value", choice=choice)
            return convert(value) if convert is not None and value is not None else value

        return primitive
    last = len(steps) - 1

    def fn(ctx: Context, env: Env) -> Any:
        value = source(ctx, env)
        for index, step in enumerate(steps):
            value = get_path(value, step, choice=choice and index == last)
            if value is None:
                return None
        return value

    return fn


def _code_matcher(compiler: Compiler, node: Node, lib: ElmLibrary) -> Any:
    """What a Retrieve's ``codes`` accept: a value set's pairs, or literal codes."""
    codes = node["codes"]
    kind = codes.get("type")
    if kind == "ValueSetRef":
        target = compiler.target(lib, codes)
        return target.valuesets[str(codes["name"])].codes
    fn = compiler.compile(codes, lib)
    probe = Context(by_type={}, params={}, now=None)  # type: ignore[arg-type]
    try:
        value = fn(probe, {})
    except Exception as exc:
        raise ElmUnsupported(f"Retrieve codes of type {kind} are not constant: {exc}") from None
    pairs: set[tuple[str | None, str]] = set()
    for item in value if isinstance(value, list) else [value]:
        pairs.update(codes_of(item))
    return frozenset(pairs)


@handler("Retrieve")
def retrieve(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    resource_type = local_name(str(node["dataType"]))
    for unsupported in ("dateProperty", "dateRange", "context", "includedIn"):
        if node.get(unsupported):
            raise ElmUnsupported(f"Retrieve with {unsupported} is not supported")
    if any(node.get(key) for key in ("codeFilter", "dateFilter", "otherFilter", "include")):
        raise ElmUnsupported("Retrieve with filters or includes is not supported")
    key = compiler.new_key()
    if "codes" not in node:

        def everything(ctx: Context, _env: Env) -> Any:
            return ctx.by_type.get(resource_type, [])

        return everything
    matcher = _code_matcher(compiler, node, lib)
    prop = str(node.get("codeProperty") or "code")
    by_code_only = {code for system, code in matcher if system is None}

    def matches(resource: dict[str, Any]) -> bool:
        value = get_path(resource, prop, choice=True)
        for system, code in codes_of(value):
            if (system, code) in matcher or (system is None and code in by_code_only):
                return True
        return False

    def fn(ctx: Context, _env: Env) -> Any:
        memo = ctx.memo
        if key in memo:
            return memo[key]
        found = [r for r in ctx.by_type.get(resource_type, ()) if matches(r)]
        memo[key] = found
        return found

    return fn


def _row_values(value: Any) -> tuple[list[Any], bool]:
    if isinstance(value, list):
        return value, False
    return ([] if value is None else [value]), True


def _sort_compare(a: Any, b: Any) -> int:
    a, b = unwrap(a), unwrap(b)
    if a is None or b is None:
        return (a is not None) - (b is not None)
    order = ops.compare(a, b)
    return order or 0


def _sorter(compiler: Compiler, sort: Node, lib: ElmLibrary) -> Any:
    keys: list[tuple[Fn | None, bool]] = []
    for item in sort.get("by") or []:
        descending = str(item.get("direction", "asc")).lower().startswith("desc")
        kind = item.get("type")
        if kind == "ByExpression":
            keys.append((compiler.compile(item["expression"], lib), descending))
        elif kind == "ByColumn":
            path = str(item["path"])

            def by_column(_ctx: Context, env: Env, path: str = path) -> Any:
                value = env.get("$this")
                for step in path.split("."):
                    value = get_path(value, step, choice=False)
                return value

            keys.append((by_column, descending))
        else:
            keys.append((None, descending))

    def apply_sort(ctx: Context, items: list[Any]) -> list[Any]:
        def compare(x: Any, y: Any) -> int:
            for key, descending in keys:
                a = key(ctx, {"$this": x}) if key is not None else x
                b = key(ctx, {"$this": y}) if key is not None else y
                order = _sort_compare(a, b)
                if order:
                    return -order if descending else order
            return 0

        return sorted(items, key=functools.cmp_to_key(compare))

    return apply_sort


def _relationship(compiler: Compiler, rel: Node, lib: ElmLibrary) -> Any:
    alias = str(rel["alias"])
    source = compiler.compile(rel["expression"], lib)
    such_that = compiler.compile(rel.get("suchThat"), lib)
    wanted: bool = rel["type"] == "With"

    def keep(ctx: Context, env: Env) -> bool:
        items, _single = _row_values(source(ctx, env))
        inner = dict(env)
        for item in items:
            inner[alias] = item
            if such_that(ctx, inner) is True:
                return wanted
        return not wanted

    return keep


def _aggregate_clause(compiler: Compiler, clause: Node, lib: ElmLibrary) -> Any:
    """``aggregate R starting s: expr``: fold the rows, R holding the value so far."""
    name = str(clause["identifier"])
    expression = compiler.compile(clause["expression"], lib)
    starting = compiler.compile(clause.get("starting"), lib)
    if clause.get("distinct"):
        raise ElmUnsupported("aggregate distinct is not supported")

    def fold(ctx: Context, env: Env, rows: list[Env]) -> Any:
        value = starting(ctx, env)
        for row in rows:
            row[name] = value
            value = expression(ctx, row)
        return value

    return fold


@handler("Query")
def query(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    aliases = [str(s["alias"]) for s in node["source"]]
    sources = [compiler.compile(s["expression"], lib) for s in node["source"]]
    lets = [
        (str(x["identifier"]), compiler.compile(x["expression"], lib))
        for x in node.get("let") or []
    ]
    relationships = [_relationship(compiler, r, lib) for r in node.get("relationship") or []]
    where = compiler.compile(node["where"], lib) if node.get("where") else None
    ret_node = node.get("return")
    ret = compiler.compile(ret_node["expression"], lib) if ret_node else None
    distinct = bool(ret_node.get("distinct", True)) if ret_node else False
    sort = _sorter(compiler, node["sort"], lib) if node.get("sort") else None
    single_alias = aliases[0] if len(aliases) == 1 else None
    aggregate = (
        _aggregate_clause(compiler, node["aggregate"], lib) if node.get("aggregate") else None
    )

    def run(ctx: Context, env: Env) -> Any:
        rows: list[list[Any]] = []
        singleton = True
        for source in sources:
            values, single = _row_values(source(ctx, env))
            singleton = singleton and single and len(sources) == 1
            rows.append(values)
        if singleton and not rows[0] and single_alias is not None:
            return None
        results: list[Any] = []
        combos = rows[0] if single_alias is not None else itertools.product(*rows)
        for combo in combos:
            row = dict(env)
            if single_alias is not None:
                row[single_alias] = combo
            else:
                row.update(zip(aliases, combo, strict=True))
            for name, let in lets:
                row[name] = let(ctx, row)
            if relationships and not all(keep(ctx, row) for keep in relationships):
                continue
            if where is not None and where(ctx, row) is not True:
                continue
            if aggregate is not None:
                results.append(row)
            elif ret is not None:
                results.append(ret(ctx, row))
            elif single_alias is not None:
                results.append(combo)
            else:
                results.append({a: row[a] for a in aliases})
        if aggregate is not None:
            return aggregate(ctx, env, results)
        if distinct:
            results = ops.distinct(results)
        if sort is not None:
            results = sort(ctx, results)
        if singleton:
            return results[0] if results else None
        return results

    return run


def _in_valueset(value: Any, valueset: Any) -> bool | None:
    if value is None or not isinstance(valueset, ValueSetValue):
        return None
    pairs = valueset.codes
    return any(pair in pairs for pair in codes_of(unwrap(value)))


@handler("InValueSet", "AnyInValueSet")
def in_valueset(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    subject = compiler.compile(node.get("code") or node.get("codes"), lib)
    if "valueset" in node and node["valueset"].get("type") is None:
        vs_node: Node | None = dict(node["valueset"], type="ValueSetRef")
    else:
        vs_node = node.get("valueset") or node.get("valuesetExpression")
    valueset = compiler.compile(vs_node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        value = subject(ctx, env)
        if value is None:
            return False if node["type"] == "AnyInValueSet" else None
        if isinstance(value, list) and not value:
            return False
        return _in_valueset(value, valueset(ctx, env))

    return fn


@handler("ExpandValueSet")
def expand_valueset(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        vs = arg(ctx, env)
        if vs is None:
            return None
        return [Code(code=code, system=system) for system, code in sorted(vs.codes)]

    return fn
