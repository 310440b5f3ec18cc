"""CLI commands of the records domain (filled in below)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the records commands to the root CLI."""
