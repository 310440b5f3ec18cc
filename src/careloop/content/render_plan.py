"""A template as literal pieces and field slots, parsed once and filled per patient.

The nightly cycle renders the same few hundred variants for tens of thousands of patients;
a Jinja render per patient (a new context, sandboxed filter calls) was most of its rendering
time. Templates that only print fields, bare or through one of our formatting filters with
constant arguments, are turned into a plan once per source and filled with each patient's
validated fields. Anything else (a builtin filter, a tag, an expression) has no plan and is
rendered by Jinja, so the output is the same either way (``tests/content/test_render_plan.py``
compares both on every shipped variant).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jinja2 import nodes

Formatter = Callable[..., str]  # (where, value, *constant arguments) -> text


@dataclass(frozen=True)
class Slot:
    """Where a field is printed, and the formatter (with its constant arguments) it goes
    through."""

    field: str
    formatter: Formatter | None = None
    args: tuple[object, ...] = ()

    def fill(self, value: object, where: object) -> str:
        if self.formatter is None:
            return str(value)
        return self.formatter(where, value, *self.args)


Piece = str | Slot


@dataclass(frozen=True)
class RenderPlan:
    """The pieces of a template in order; filling it is string joining."""

    pieces: tuple[Piece, ...]

    def fill(self, values: Mapping[str, object], where: object) -> str:
        return "".join(
            piece if isinstance(piece, str) else piece.fill(values[piece.field], where)
            for piece in self.pieces
        )


def _slot(node: nodes.Node, formatters: Mapping[str, Formatter]) -> Slot | None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return Slot(node.name)
    if not isinstance(node, nodes.Filter) or not isinstance(node.node, nodes.Name):
        return None
    formatter = formatters.get(node.name)
    plain_args = all(isinstance(arg, nodes.Const) for arg in node.args)
    if formatter is None or node.kwargs or node.dyn_args or node.dyn_kwargs or not plain_args:
        return None
    args = tuple(arg.value for arg in node.args if isinstance(arg, nodes.Const))
    return Slot(node.node.name, formatter, args)


def plan_of(tree: nodes.Template, *, formatters: Mapping[str, Formatter]) -> RenderPlan | None:
    """The plan of a parsed template, or None when only Jinja can render it."""
    pieces: list[Piece] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                pieces.append(node.data)
                continue
            slot = _slot(node, formatters)
            if slot is None:
                return None
            pieces.append(slot)
    return RenderPlan(tuple(pieces))
