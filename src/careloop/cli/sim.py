"""CLI: ``careloop simulate`` — try policies on a population model before going live."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from careloop.cli.options import JsonOption
from careloop.cli.support import print_json
from careloop.errors import InvalidInput
from careloop.sim.policies import POLICIES
from careloop.sim.runner import DEFAULT_POPULATION, load_population, simulate


def simulate_command(
    patients: Annotated[int, typer.Option("--patients", help="Population size.")] = 1000,
    touches: Annotated[int, typer.Option("--touches", help="Outreach touches per patient.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help=f"Repeatable: {', '.join(POLICIES)}."),
    ] = None,
    population: Annotated[
        str, typer.Option("--population", help="Plug-in population factory MODULE:FACTORY.")
    ] = DEFAULT_POPULATION,
    as_json: JsonOption = False,
) -> None:
    """Run a simulated pilot and report engagement per policy."""
    if patients < 1:
        raise InvalidInput("--patients must be at least 1", field="--patients")
    policies = policy or list(POLICIES)
    for name in policies:
        if name not in POLICIES:
            raise InvalidInput(
                f"unknown policy {name!r}; choose from {', '.join(POLICIES)}", field="--policy"
            )
    # Like `uvicorn --app-dir .`: a plug-in module in the working directory is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    world = load_population(population, n=patients, seed=seed)
    result = simulate(population=world, policies=policies, touches=touches, seed=seed)
    result["population"] = population
    if as_json:
        print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{patients} patients, {touches} touches, seed {seed}")
    for column in (
        "policy",
        "touch 1",
        f"touch {min(10, touches)}",
        f"touch {touches}",
        "cumulative",
        "vs oracle (last)",
        "decisions/s",
    ):
        table.add_column(column)
    for name, figures in result["policies"].items():
        per_touch = figures["per_touch"]
        table.add_row(
            name,
            f"{per_touch[0]:.3f}",
            f"{per_touch[min(10, touches) - 1]:.3f}",
            f"{per_touch[-1]:.3f}",
            f"{figures['cumulative']:.3f}",
            f"{figures['oracle_ratio'][-1]:.2f}",
            f"{figures['decisions_per_s']:,.0f}",
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``simulate`` to the root CLI."""
    app.command("simulate")(simulate_command)
