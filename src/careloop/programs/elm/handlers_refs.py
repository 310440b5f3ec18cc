"""References: definitions, functions (with overloads), parameters, aliases, terminology."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmLibrary,
    ElmUnsupported,
    Env,
    Fn,
    Node,
    constant,
    handler,
)
from careloop.programs.elm.fhir import get_path, local_name
from careloop.programs.elm.native import native_function
from careloop.programs.elm.values import Concept


def type_key(spec: Any) -> str:
    """A comparable spelling of an ELM type specifier (or a resultTypeName)."""
    if spec is None:
        return "?"
    if isinstance(spec, str):
        return spec
    if "choice" in spec:
        return "Choice<" + ",".join(sorted(type_key(o) for o in spec["choice"])) + ">"
    kind = spec.get("type")
    if kind == "NamedTypeSpecifier":
        return str(spec["name"])
    if kind == "ListTypeSpecifier":
        return f"List<{type_key(spec.get('elementType'))}>"
    if kind == "IntervalTypeSpecifier":
        return f"Interval<{type_key(spec.get('pointType'))}>"
    if kind == "TupleTypeSpecifier":
        return "Tuple"
    return "?"


def _operand_type(node: Node) -> str:
    return type_key(node.get("resultTypeSpecifier") or node.get("resultTypeName"))


def _choose_overload(lib: ElmLibrary, node: Node) -> Node:
    name = str(node["name"])
    args = node.get("operand") or []
    candidates = [
        f for f in lib.functions.get(name, []) if len(f.get("operand") or []) == len(args)
    ]
    if not candidates:
        raise ElmUnsupported(f"{lib.name}: no function {name} with {len(args)} operand(s)")
    if len(candidates) == 1:
        return candidates[0]
    wanted = [type_key(s) for s in node.get("signature") or []] or [_operand_type(a) for a in args]
    for candidate in candidates:
        declared = [type_key(o.get("operandTypeSpecifier")) for o in candidate["operand"]]
        if declared == wanted:
            return candidate
    for candidate in candidates:
        declared = [type_key(o.get("operandTypeSpecifier")) for o in candidate["operand"]]
        if all(w == "?" or w == d or w in d for w, d in zip(wanted, declared, strict=True)):
            return candidate
    raise ElmUnsupported(f"{lib.name}: cannot choose an overload of {name} for {wanted}")


def function_body(compiler: Compiler, lib: ElmLibrary, definition: Node) -> Fn:
    key = id(definition)
    body = lib.bodies.get(key)
    if body is None:
        cell: list[Fn] = []

        def call(ctx: Context, env: Env) -> Any:
            return cell[0](ctx, env)

        lib.bodies[key] = call
        if definition.get("external"):
            raise ElmUnsupported(f"{lib.name}: external function {definition['name']}")
        outer = compiler.operand_types
        compiler.operand_types = {
            str(o["name"]): local_name(type_key(o.get("operandTypeSpecifier")))
            for o in definition.get("operand") or []
        }
        try:
            cell.append(compiler.compile(definition.get("expression"), lib))
        finally:
            compiler.operand_types = outer
        body = call
    return body


@handler("ExpressionRef")
def expression_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return compiler.definition(compiler.target(lib, node), str(node["name"]))


@handler("FunctionRef")
def function_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    args = compiler.operands(node, lib)
    definition = _choose_overload(target, node)
    native = native_function(target.name, definition)
    if native is not None:
        return native(args)
    body = function_body(compiler, target, definition)
    names = [str(o["name"]) for o in definition.get("operand") or []]
    if len(names) == 1:
        only_name, only_arg = names[0], args[0]

        def call_one(ctx: Context, env: Env) -> Any:
            return body(ctx, {only_name: only_arg(ctx, env)})

        return call_one

    def call(ctx: Context, env: Env) -> Any:
        return body(ctx, {n: a(ctx, env) for n, a in zip(names, args, strict=True)})

    return call


@handler("ParameterRef")
def parameter_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    name = str(node["name"])
    param = target.parameters.get(name)
    if param is None:
        raise ElmUnsupported(f"{target.name}: unknown parameter {name}")
    default = compiler.compile(param.get("default"), target)

    def fn(ctx: Context, env: Env) -> Any:
        if name in ctx.params:
            return ctx.params[name]
        return default(ctx, env)

    return fn


@handler("AliasRef", "QueryLetRef", "OperandRef")
def alias_ref(_compiler: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    name = str(node["name"])

    def fn(_ctx: Context, env: Env) -> Any:
        return env.get(name)

    return fn


@handler("IdentifierRef")
def identifier_ref(_compiler: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    """A bare name in a sort clause: a property of the element being sorted."""
    name = str(node["name"])

    def fn(_ctx: Context, env: Env) -> Any:
        if name in env:
            return env[name]
        return get_path(env.get("$this"), name, choice=False)

    return fn


def _declared(names: Mapping[str, Any], node: Node, *, library: str, what: str) -> Fn:
    """The library's declaration the node names; an unknown name is refused, never ``null``."""
    try:
        return constant(names[str(node["name"])])
    except KeyError:
        raise ElmUnsupported(f"{library}: unknown {what} {node['name']}") from None


@handler("ValueSetRef")
def valueset_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    return _declared(target.valuesets, node, library=target.name, what="value set")


@handler("CodeRef")
def code_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    return _declared(target.codes, node, library=target.name, what="code")


@handler("CodeSystemRef")
def codesystem_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    return constant(target.codesystems.get(str(node["name"])))


@handler("ConceptRef")
def concept_ref(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    target = compiler.target(lib, node)
    concept = target.concepts.get(str(node["name"]))
    if concept is None:
        raise ElmUnsupported(f"{target.name}: unknown concept {node['name']}")
    codes = tuple(
        target.codes[str(ref["name"])] for ref in concept.get("code") or [] if "name" in ref
    )
    return constant(Concept(codes=codes, display=concept.get("display")))
