"""Compile ELM JSON into Python closures, once per measure package.

Each ELM node becomes a function ``fn(ctx, env)``: ``ctx`` is one patient's evaluation (their
resources by type, the memo of definitions already evaluated, the parameters), ``env`` the
names in scope (query aliases, ``let``s, function operands). Node kinds are handled by
functions registered in ``HANDLERS`` (``handlers_*.py``); a kind without one stops compilation
with its name (``ElmUnsupported``), so an unsupported measure fails when it is loaded, never
silently while it is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from careloop.programs.elm.cqltime import CqlDateTime
from careloop.programs.elm.values import Code, ValueSetValue

Env = dict[str, Any]
Fn = Callable[["Context", Env], Any]
Node = dict[str, Any]
Handler = Callable[["Compiler", Node, "ElmLibrary"], Fn]
HANDLERS: dict[str, Handler] = {}


class ElmUnsupported(ValueError):
    """The ELM uses something this engine cannot execute (named in the message)."""


class ElmRuntimeError(RuntimeError):
    """CQL raised an error while evaluating (a Message with severity Error, SingletonFrom...)."""


def handler(*kinds: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = fn
        return fn

    return register


class Context:
    """One patient's evaluation: their resources by type, the memo, the parameter values."""

    __slots__ = ("by_type", "memo", "now", "params")

    def __init__(
        self,
        *,
        by_type: dict[str, list[dict[str, Any]]],
        params: dict[str, Any],
        now: CqlDateTime,
    ) -> None:
        self.by_type = by_type
        self.memo: dict[int, Any] = {}
        self.params = params
        self.now = now


@dataclass(frozen=True, slots=True)
class LibrarySource:
    """A Library resource's ELM (and CQL text, kept for people) as loaded from a package."""

    name: str
    version: str | None
    elm: Node
    cql: str | None = None
    url: str | None = None


@dataclass(slots=True)
class ElmLibrary:
    """A library with its names resolved: includes, terminology, definitions and functions."""

    name: str
    version: str | None
    includes: dict[str, ElmLibrary] = field(default_factory=dict)
    valuesets: dict[str, ValueSetValue] = field(default_factory=dict)
    codesystems: dict[str, str] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    concepts: dict[str, Node] = field(default_factory=dict)
    parameters: dict[str, Node] = field(default_factory=dict)
    expressions: dict[str, Node] = field(default_factory=dict)
    functions: dict[str, list[Node]] = field(default_factory=dict)
    evaluators: dict[str, Fn] = field(default_factory=dict)
    bodies: dict[int, Any] = field(default_factory=dict)


def _defs(elm: Node, section: str) -> list[Node]:
    block = elm.get(section) or {}
    items = block.get("def") if isinstance(block, dict) else None
    return list(items or [])


def valueset_key(url: str) -> str:
    """Value set URLs match without version or scheme (packages mix http and https)."""
    return url.split("|", 1)[0].removeprefix("https://").removeprefix("http://")


class Compiler:
    """Builds and compiles the libraries of one measure package."""

    def __init__(
        self,
        sources: dict[str, LibrarySource],
        expansions: dict[str, frozenset[tuple[str, str]]],
    ) -> None:
        self.sources = sources
        self.expansions = expansions
        self.libraries: dict[str, ElmLibrary] = {}
        self.missing_valuesets: set[str] = set()
        # FHIR types of the operands of the function being compiled (for ``operand.value``).
        self.operand_types: dict[str, str] = {}
        self._next_key = 0

    def new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    # -- libraries -----------------------------------------------------------------------
    def library(self, name: str) -> ElmLibrary:
        built = self.libraries.get(name)
        if built is not None:
            return built
        source = self.sources.get(name)
        if source is None:
            raise ElmUnsupported(f"library {name} is not in the package")
        elm = source.elm["library"]
        lib = ElmLibrary(name=name, version=source.version)
        self.libraries[name] = lib
        for include in _defs(elm, "includes"):
            target = str(include["path"]).rsplit("/", 1)[-1]
            lib.includes[str(include["localIdentifier"])] = self.library(target)
        for system in _defs(elm, "codeSystems"):
            lib.codesystems[str(system["name"])] = str(system["id"])
        for vs in _defs(elm, "valueSets"):
            url = str(vs["id"])
            codes = self.expansions.get(valueset_key(url))
            if codes is None:
                self.missing_valuesets.add(url)
                codes = frozenset()
            lib.valuesets[str(vs["name"])] = ValueSetValue(url=url, codes=codes)
        for code in _defs(elm, "codes"):
            system_ref = code.get("codeSystem") or {}
            lib.codes[str(code["name"])] = Code(
                code=str(code["id"]),
                system=lib.codesystems.get(str(system_ref.get("name"))),
                display=code.get("display"),
            )
        for concept in _defs(elm, "concepts"):
            lib.concepts[str(concept["name"])] = concept
        for param in _defs(elm, "parameters"):
            lib.parameters[str(param["name"])] = param
        for statement in _defs(elm, "statements"):
            if statement.get("type") == "FunctionDef":
                lib.functions.setdefault(str(statement["name"]), []).append(statement)
            else:
                lib.expressions[str(statement["name"])] = statement
        return lib

    def target(self, lib: ElmLibrary, node: Node) -> ElmLibrary:
        alias = node.get("libraryName")
        if alias is None:
            return lib
        try:
            return lib.includes[str(alias)]
        except KeyError:
            raise ElmUnsupported(f"{lib.name}: unknown included library {alias}") from None

    # -- expressions ---------------------------------------------------------------------
    def compile(self, node: Node | None, lib: ElmLibrary) -> Fn:
        if node is None:
            return _null
        kind = node.get("type")
        build = HANDLERS.get(str(kind))
        if build is None:
            raise ElmUnsupported(f"ELM node type {kind} (library {lib.name}) is not supported")
        return build(self, node, lib)

    def operands(self, node: Node, lib: ElmLibrary) -> list[Fn]:
        operand = node.get("operand")
        if operand is None:
            return []
        if isinstance(operand, dict):
            return [self.compile(operand, lib)]
        return [self.compile(item, lib) for item in operand]

    def definition(self, lib: ElmLibrary, name: str) -> Fn:
        """The memoised evaluator of ``define name`` (compiled on first reference)."""
        evaluator = lib.evaluators.get(name)
        if evaluator is not None:
            return evaluator
        statement = lib.expressions.get(name)
        if statement is None:
            raise ElmUnsupported(f"{lib.name}: no definition named {name!r}")
        body: list[Fn] = []
        key = self.new_key()

        def evaluate(ctx: Context, _env: Env) -> Any:
            memo = ctx.memo
            if key in memo:
                return memo[key]
            value = body[0](ctx, {})
            memo[key] = value
            return value

        lib.evaluators[name] = evaluate
        body.append(self.compile(statement.get("expression"), lib))
        return evaluate

    def compile_all(self, lib: ElmLibrary) -> None:
        """Compile every definition and function so unsupported ELM fails now."""
        for name in lib.expressions:
            self.definition(lib, name)
        for overloads in lib.functions.values():
            for fn in overloads:
                if fn.get("external"):
                    continue  # implemented natively or refused where it is referenced
                from careloop.programs.elm.handlers_refs import function_body

                function_body(self, lib, fn)


def _null(_ctx: Context, _env: Env) -> None:
    return None


def constant(value: Any) -> Fn:
    def fn(_ctx: Context, _env: Env) -> Any:
        return value

    return fn


def named_pair(
    compiler: Compiler,
    node: Node,
    lib: ElmLibrary,
    keys: tuple[str, str],
    op: Callable[[Any, Any], Any],
) -> Fn:
    """Two operands named by ``keys`` (``source``/``element``), then ``op``: null if either
    is null, as CQL's list and string operators are."""
    first, second = (compiler.compile(node[key], lib) for key in keys)

    def fn(ctx: Context, env: Env) -> Any:
        a, b = first(ctx, env), second(ctx, env)
        return None if a is None or b is None else op(a, b)

    return fn


def with_separator(
    compiler: Compiler, node: Node, lib: ElmLibrary, key: str, op: Callable[[Any, Any], Any]
) -> Fn:
    """The operand ``key`` and the optional ``separator``, then ``op``: null if the operand is
    null (the separator is then not evaluated)."""
    value_of = compiler.compile(node[key], lib)
    separator = compiler.compile(node.get("separator"), lib)

    def fn(ctx: Context, env: Env) -> Any:
        value = value_of(ctx, env)
        return None if value is None else op(value, separator(ctx, env))

    return fn
